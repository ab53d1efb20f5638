/**
 * Maintenance mode end to end: `ee-deploy maintenance on|off|status` over a real OpenSSH server
 * on two hosts, and the README's nginx snippet run by a real nginx: 503 with the message while
 * the file exists, 200 after `off`.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshd, type SshdFixture } from '../helpers/sshd.js';
import { cli, jsonDoc, newProject, server, type Project } from '../helpers/deploy-env.js';
import { REPO } from '../helpers/cli.js';
import { freePort, startNginx, type NginxProcess } from '../helpers/proxies.js';

let f: SshdFixture;
let tmp: string;
let roots: string[];
let p: Project;
let ngx: NginxProcess;
let port: number;

/** the fenced block after `<!-- maintenance-snippet -->` in the README, for one deploy path */
function readmeSnippet(root: string): string {
  const readme = readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const m = /<!-- maintenance-snippet -->\n```nginx\n([\s\S]*?)```/.exec(readme);
  if (!m) throw new Error('README: no maintenance snippet');
  return m[1].replaceAll('/srv/shop', root).replace('# ... your usual proxy_pass / root / fastcgi_pass', `root ${root}/current;`);
}

beforeAll(async () => {
  f = await startSshd({ servers: [server('web1'), server('web2')] });
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-maint-'));
  roots = [path.join(tmp, 'a'), path.join(tmp, 'b')];
  p = newProject({ hosts: [{ host: 'web1', path: roots[0] }, { host: 'web2', path: roots[1] }] }, { 'index.html': 'hello\n' });
  const d = await cli(f.home, p.dir, ['deploy']);
  expect(d.code, d.stderr).toBe(0);
  port = await freePort();
  ngx = await startNginx(() => `server {\n listen 127.0.0.1:${port};\n${readmeSnippet(roots[0])}\n}`, port);
});

afterAll(async () => {
  await ngx?.stop();
  await f?.stopAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const file = (root: string) => path.join(root, 'shared/maintenance.json');

describe('maintenance', () => {
  it('on -m writes the document on every host; nginx answers 503 with it; off removes it and nginx answers 200', async () => {
    const before = await fetch(`http://127.0.0.1:${port}/`);
    expect(before.status).toBe(200);
    expect(await before.text()).toBe('hello\n');

    const on = await cli(f.home, p.dir, ['maintenance', 'on', '-m', 'Back at 14:00 UTC']);
    expect(on.code, on.stderr).toBe(0);
    expect(on.stdout).toMatch(/^web1: maintenance ON \("Back at 14:00 UTC" by alice since \d{4}-/m);
    expect(on.stdout).toMatch(/^web2: maintenance ON/m);
    for (const r of roots) {
      const doc = JSON.parse(readFileSync(file(r), 'utf8'));
      expect(doc).toEqual({ message: 'Back at 14:00 UTC', user: 'alice', since: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
      expect(Math.abs(Date.parse(doc.since) - Date.now())).toBeLessThan(60_000);
    }
    const during = await fetch(`http://127.0.0.1:${port}/some/page`);
    expect(during.status).toBe(503);
    expect(during.headers.get('retry-after')).toBe('120');
    expect(JSON.parse(await during.text())).toMatchObject({ message: 'Back at 14:00 UTC', user: 'alice' });

    const st = await cli(f.home, p.dir, ['maintenance', 'status', '--json']);
    expect(st.code, st.stderr).toBe(0);
    const doc = jsonDoc(st.stdout);
    expect(doc.ok).toBe(true);
    expect(doc.hosts.map((h: { on: boolean }) => h.on)).toEqual([true, true]);
    expect(doc.hosts[0].doc.message).toBe('Back at 14:00 UTC');

    const off = await cli(f.home, p.dir, ['maintenance', 'off']);
    expect(off.code, off.stderr).toBe(0);
    expect(off.stdout).toMatch(/^web1: maintenance off \(was on \("Back at 14:00 UTC" by alice/m);
    for (const r of roots) expect(existsSync(file(r))).toBe(false);
    const after = await fetch(`http://127.0.0.1:${port}/`);
    expect(after.status).toBe(200);
    expect(await after.text()).toBe('hello\n');

    const again = await cli(f.home, p.dir, ['maintenance', 'off']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('web1: maintenance off (was not on)');
  });

  it('--hosts limits it to one host; status shows each host; a bad state word is a usage error (exit 2)', async () => {
    const on = await cli(f.home, p.dir, ['maintenance', 'on', '--hosts', 'web2']);
    expect(on.code, on.stderr).toBe(0);
    expect(existsSync(file(roots[0]))).toBe(false);
    expect(JSON.parse(readFileSync(file(roots[1]), 'utf8')).message).toBe('Down for maintenance, back soon.');
    const st = await cli(f.home, p.dir, ['maintenance', 'status']);
    expect(st.stdout).toMatch(/^web1: maintenance off$/m);
    expect(st.stdout).toMatch(/^web2: maintenance ON/m);
    expect((await cli(f.home, p.dir, ['maintenance', 'off'])).code).toBe(0);
    const bad = await cli(f.home, p.dir, ['maintenance', 'maybe']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe('error: maintenance: expected on, off or status, got "maybe"');
  });

  it('a host that cannot be written is named, exit 1; the others are changed', async () => {
    const p2 = newProject({ hosts: [{ host: 'web1', path: roots[0] }, { host: 'web2', path: '/proc/ee-no-such/shop' }] });
    const on = await cli(f.home, p2.dir, ['maintenance', 'on', '-m', 'x']);
    expect(on.code).toBe(1);
    expect(on.stderr.trim()).toMatch(/^error: web2: maintenance on failed: /);
    expect(on.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(file(roots[0]))).toBe(true);
    expect((await cli(f.home, p.dir, ['maintenance', 'off', '--hosts', 'web1'])).code).toBe(0);
  });
});
