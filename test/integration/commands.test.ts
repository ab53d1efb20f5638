/**
 * The read-only commands (`releases`, `history`, `check`) over two real OpenSSH servers,
 * as tables and as --json.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshd, type SshdFixture } from '../helpers/sshd.js';
import { cli, server, current, jsonDoc, newProject, type Project } from '../helpers/deploy-env.js';

let f: SshdFixture;
let tmp: string;
let roots: string[];
let p: Project;
let ids: string[];

beforeAll(async () => {
  f = await startSshd({ servers: [server('web1'), server('web2'), server('stranger', { knownHosts: 'omit' })] });
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-commands-'));
  roots = [path.join(tmp, 'one'), path.join(tmp, 'two')];
  p = newProject({ hosts: [{ host: 'web1', path: roots[0] }, { host: 'web2', path: roots[1] }] });
  ids = [];
  for (const m of ['first', 'second']) {
    const r = await cli(f.home, p.dir, ['deploy', '-m', m]);
    expect(r.code, r.stderr).toBe(0);
    ids.push(current(roots[0])!);
    expect(current(roots[1])).toBe(ids.at(-1));
  }
  const rb = await cli(f.home, p.dir, ['rollback', '--yes', '-m', 'undo second']);
  expect(rb.code, rb.stderr).toBe(0);
  // the second release failed somewhere by hand
  writeFileSync(path.join(roots[1], 'releases', ids[1], 'BAD_RELEASE'), 'x,bob\n');
});

afterAll(async () => {
  await f?.stopAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('releases', () => {
  it('prints a table per host with the current and BAD_RELEASE markers', async () => {
    const r = await cli(f.home, p.dir, ['releases']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('web1');
    expect(lines[1]).toMatch(/^\s+release\s+commit\s+who\s+when\s+size$/);
    // newest first
    expect(lines[2]).toMatch(new RegExp(`^\\s+${ids[1]}\\s+content-[0-9a-f]{16}\\s+alice\\s+\\d{4}-\\d\\d-\\d\\dT\\S+\\s+\\d+\\.\\d KiB$`));
    expect(lines[3]).toMatch(new RegExp(`^\\s+\\*\\s+${ids[0]}\\s+content-[0-9a-f]{16}\\s+alice\\s`));
    expect(lines[4]).toBe('web2');
    expect(lines[6]).toMatch(new RegExp(`^\\s+!\\s+${ids[1]}\\s`));
    expect(r.stdout).toContain('* = current, ! = BAD_RELEASE (skipped by rollback)');
    expect(r.stdout).not.toContain('WARNING');
  });

  it('--json', async () => {
    const r = await cli(f.home, p.dir, ['releases', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = jsonDoc(r.stdout);
    expect(doc).toMatchObject({ project: 'shop', env: 'production', consistent: true });
    expect(doc.hosts.map((h: { host: string }) => h.host)).toEqual(['web1', 'web2']);
    const web2 = doc.hosts[1];
    expect(web2).toMatchObject({ ok: true, current: ids[0] });
    expect(web2.releases).toEqual([
      expect.objectContaining({ id: ids[1], current: false, bad: true, user: 'alice', commit: expect.stringMatching(/^content-[0-9a-f]{16}$/), size_kb: expect.any(Number) }),
      expect.objectContaining({ id: ids[0], current: true, bad: false, user: 'alice' }),
    ]);
  });

  it('warns when hosts disagree on the current release', async () => {
    const sw = await cli(f.home, p.dir, ['rollback', ids[1], '--hosts', 'web1', '--yes']);
    expect(sw.code, sw.stderr).toBe(0);
    const r = await cli(f.home, p.dir, ['releases']);
    expect(r.stdout).toContain(`WARNING: hosts disagree on the current release: web1=${ids[1]}, web2=${ids[0]}`);
    const back = await cli(f.home, p.dir, ['rollback', ids[0], '--hosts', 'web1', '--yes']);
    expect(back.code, back.stderr).toBe(0);
  });
});

describe('history', () => {
  it('prints one row per run, newest first', async () => {
    const r = await cli(f.home, p.dir, ['history']);
    expect(r.code, r.stderr).toBe(0);
    const [head, ...rows] = r.stdout.trim().split('\n');
    expect(head).toMatch(/^started\s+release\s+action\s+status\s+duration\s+who\s+commit\s+message$/);
    // two per-host rollbacks (web1 only), the fleet rollback, two deploys
    expect(rows).toHaveLength(5);
    expect(rows[0]).toMatch(new RegExp(`${ids[0]}\\s+rollback\\s+success\\s+\\S+\\s+alice\\s.*\\[web1\\]$`));
    expect(rows[2]).toMatch(new RegExp(`${ids[0]}\\s+rollback\\s+success\\s+\\S+\\s+alice\\s+content-[0-9a-f]{16}\\s+undo second$`));
    expect(rows[3]).toMatch(new RegExp(`${ids[1]}\\s+deploy\\s+success\\s+\\S+\\s+alice\\s+content-[0-9a-f]{16}\\s+second$`));
    expect(rows[4]).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ\\s+${ids[0]}\\s+deploy\\s+success\\s+\\d+(ms|\\.\\d+s)\\s+alice\\s+content-[0-9a-f]{16}\\s+first$`));
  });

  it('--json, with -n', async () => {
    const r = await cli(f.home, p.dir, ['history', '--json', '-n', '2']);
    expect(r.code, r.stderr).toBe(0);
    const doc = jsonDoc(r.stdout);
    expect(doc.errors).toEqual([]);
    expect(doc.entries).toHaveLength(2);
    expect(doc.entries[0]).toMatchObject({ id: ids[0], action: 'rollback', status: 'success', user: 'alice', on: ['web1'] });
    const all = jsonDoc((await cli(f.home, p.dir, ['history', '--json'])).stdout);
    expect(all.entries.at(-1)).toMatchObject({ id: ids[0], action: 'deploy', status: 'success', message: 'first', on: ['web1', 'web2'], hosts: ['web1', 'web2'] });
    const bad = await cli(f.home, p.dir, ['history', '-n', 'x']);
    expect(bad.code).toBe(2);
  });
});

describe('check', () => {
  it('prints a table and exits 0 when every host is ready', async () => {
    const r = await cli(f.home, p.dir, ['check']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe(`config ${p.config}: ok (project shop, environment production)`);
    expect(lines[1]).toMatch(/^host\s+connect\s+current\s+releases\s+free\s+lock\s+result$/);
    expect(lines[2]).toMatch(new RegExp(`^web1\\s+ok\\s+${ids[0]}\\s+2\\s+\\S+ [KMGT]?i?B\\s+free\\s+ok$`));
    expect(lines[3]).toMatch(/^web2\s+ok\s+/);
  });

  it('--json shows a held lock as a warning', async () => {
    expect((await cli(f.home, p.dir, ['lock', '--hosts', 'web2', '-m', 'hands off'])).code).toBe(0);
    const r = await cli(f.home, p.dir, ['check', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = jsonDoc(r.stdout);
    expect(doc).toMatchObject({ ok: true, project: 'shop', env: 'production', config: p.config });
    expect(doc.hosts[0]).toMatchObject({ host: 'web1', connection: 'ok', current: ids[0], releases: 2, lock: 'free', problems: [], warnings: [] });
    expect(doc.hosts[1]).toMatchObject({ host: 'web2', connection: 'ok', lock: 'held' });
    expect(doc.hosts[1].warnings[0]).toMatch(/^locked by alice@.*"hands off"$/);
    // `lock` is all hosts or none: web1 is given back when web2 is already held
    const all = await cli(f.home, p.dir, ['lock', '-m', 'second freeze']);
    expect(all.code).toBe(4);
    expect(all.stdout).toMatch(/^web1: NOT locked: web1: not locked: web2: already locked by alice@.*"hands off".*\(all hosts or none\)\nweb2: NOT locked: web2: already locked by/);
    expect(existsSync(path.join(roots[0], '.ee-deploy', 'lock'))).toBe(false);
    expect(JSON.parse(readFileSync(path.join(roots[1], '.ee-deploy', 'lock', 'info'), 'utf8')).message).toBe('hands off');
    expect((await cli(f.home, p.dir, ['unlock'])).code).toBe(0);
  });

  it('a fresh host (nothing deployed yet) is ready; an unknown host key is exit 3', async () => {
    const q = newProject({ hosts: [{ host: 'web1', path: path.join(tmp, 'fresh', 'app') }, { host: 'stranger', path: path.join(tmp, 'x') }] });
    const r = await cli(f.home, q.dir, ['check', '--json']);
    expect(r.code).toBe(3);
    const doc = jsonDoc(r.stdout);
    expect(doc.ok).toBe(false);
    // never deployed to: the nearest existing parent is checked (writable, free space)
    expect(doc.hosts[0]).toMatchObject({ host: 'web1', ok: true, connection: 'ok', releases: 0, free: expect.stringMatching(/^\d+(\.\d+)? [KMGT]?i?B$/) });
    expect(doc.hosts[1]).toMatchObject({ host: 'stranger', ok: false, connection: 'FAILED' });
    expect(doc.hosts[1].problems[0]).toContain(f.servers[2].hostKeyFingerprint);
    const t = await cli(f.home, q.dir, ['check']);
    expect(t.code).toBe(3);
    expect(t.stdout).toMatch(/stranger\s+FAILED\s+-\s+0\s+-\s+free\s+FAIL .*SHA256:/);
  });

  it('config errors are exit 2 with file:line:col', async () => {
    const q = newProject({ hosts: [{ host: 'web1', path: tmp }] });
    writeFileSync(q.config, 'project: shop\nkeep_relases: 3\nenvironments:\n  p:\n    hosts: [{ host: web1, path: /x }]\n');
    const r = await cli(f.home, q.dir, ['check']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`error: ${q.config}:2:1: unknown key "keep_relases" (did you mean "keep_releases"?)\n`);
  });
});
