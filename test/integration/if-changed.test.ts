/**
 * `deploy --if-changed` over a real sshd host and a local one: exit 0 and "unchanged", no new
 * release, no history, no lock, when every selected host runs this content; a deploy as soon
 * as one host does not (content changed, a host behind, a rollback).
 */
import { rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshd, type SshdFixture } from '../helpers/sshd.js';
import { cli, current, historyRecords, isLocked, jsonDoc, newProject, releases, server, type Project } from '../helpers/deploy-env.js';

let f: SshdFixture;
let tmp: string;
let p: Project;
let web: string;
let loc: string;

beforeAll(async () => {
  f = await startSshd({ servers: [server('web1')] });
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-ifchanged-'));
  web = path.join(tmp, 'web');
  loc = path.join(tmp, 'local');
  p = newProject({ hosts: [{ host: 'web1', path: web }, { host: 'local', path: loc }] });
});
afterAll(async () => {
  await f?.stopAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const run = (args: string[]) => cli(f.home, p.dir, args);

describe('deploy --if-changed', () => {
  it('first deploy: nothing runs there yet, so it deploys', async () => {
    const r = await run(['deploy', '--if-changed']);
    expect(r.code, r.stderr).toBe(0);
    expect(releases(web)).toHaveLength(1);
    expect(releases(loc)).toHaveLength(1);
  });

  it('same content: exit 0, "unchanged", no release, no history, no lock (also after a touch)', async () => {
    const before = { web: releases(web), loc: releases(loc), hist: historyRecords(web).length };
    const t = new Date(Date.now() + 5000);
    utimesSync(path.join(p.app, 'index.html'), t, t); // mtime only: the content hash decides
    const r = await run(['deploy', '--if-changed']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/unchanged: every host already runs this content \(release \d{14}\)/);
    expect(releases(web)).toEqual(before.web);
    expect(releases(loc)).toEqual(before.loc);
    expect(historyRecords(web)).toHaveLength(before.hist);
    expect(isLocked(web)).toBe(false);
    expect(isLocked(loc)).toBe(false);
    const j = await run(['deploy', '--if-changed', '--json']);
    expect(j.code).toBe(0);
    const doc = jsonDoc(j.stdout);
    expect(doc).toMatchObject({ ok: true, status: 'unchanged', release: current(web) });
    expect(doc.hosts.map((h: { state: string }) => h.state)).toEqual(['unchanged', 'unchanged']);
  });

  it('changed content deploys a new release everywhere', async () => {
    writeFileSync(path.join(p.app, 'index.html'), '<h1>v2</h1>\n');
    const r = await run(['deploy', '--if-changed']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/unchanged:/);
    expect(releases(web)).toHaveLength(2);
    expect(current(web)).toBe(current(loc));
  });

  it('one host behind (rolled back): deploys; --hosts limits the comparison to the selected hosts', async () => {
    const rb = await run(['rollback', '--hosts', 'local', '--yes']);
    expect(rb.code, rb.stderr).toBe(0);
    expect(current(loc)).not.toBe(current(web));
    const only = await run(['deploy', '--if-changed', '--hosts', 'web1']);
    expect(only.code).toBe(0);
    expect(only.stdout).toMatch(/unchanged:/);
    const r = await run(['deploy', '--if-changed']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/unchanged:/);
    expect(current(loc)).toBe(current(web));
    expect(releases(web)).toHaveLength(3);
  });

  it('cannot be combined with --promote', async () => {
    const r = await run(['deploy', '--if-changed', '--promote']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: --if-changed cannot be combined with --promote/m);
  });
});
