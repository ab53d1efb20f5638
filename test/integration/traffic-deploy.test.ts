/**
 * The traffic steps inside `ee-deploy deploy`, end to end over real OpenSSH servers:
 * `--maintenance` (on during the switch, off after the checks, off after a failure too, and said
 * so when it cannot be), and a rolling deploy behind a real HAProxy that fails on its second
 * batch: every server ends ready, on the release it ends on.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, current, jsonDoc, server } from '../helpers/deploy-env.js';
import { makeProject } from '../helpers/cli.js';
import { freePort, parseShowStat, startHaproxy, type HaproxyProcess } from '../helpers/proxies.js';
import { startSshd, type SshdFixture } from '../helpers/sshd.js';

let f: SshdFixture;
let tmp: string;

beforeAll(async () => {
  f = await startSshd({ servers: [server('web1'), server('web2')] });
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-trafficd-'));
});
afterAll(async () => {
  await f?.stopAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** after_switch hook: record whether maintenance was on while `current` switched */
const SEEN = `if [ -f "$EE_DEPLOY_PATH/shared/maintenance.json" ]; then echo on >> "$EE_DEPLOY_PATH/seen"; else echo off >> "$EE_DEPLOY_PATH/seen"; fi`;

function project(root: string, checks = '', files: Record<string, string> = {}): ReturnType<typeof makeProject> {
  return makeProject(
    `project: shop
source: { dir: ./app }
hooks: { after_switch: [${JSON.stringify(SEEN)}] }
${checks}
environments:
  production:
    hosts: [{ host: web1, path: ${JSON.stringify(root)} }]
`,
    { 'index.html': 'hi\n', ...files },
  );
}

describe('deploy --maintenance', () => {
  it('on during the switch, off once the post checks passed', async () => {
    const root = path.join(tmp, 'm1');
    const p = project(root);
    const d = await cli(f.home, p.dir, ['deploy', '--maintenance']);
    expect(d.code, d.stderr).toBe(0);
    expect(readFileSync(path.join(root, 'seen'), 'utf8')).toBe('on\n');
    expect(existsSync(path.join(root, 'shared/maintenance.json'))).toBe(false);
    expect(d.stdout + d.stderr).toMatch(/maintenance on \(1 host\(s\)\)[\s\S]*maintenance off/);
    // without the flag: not touched
    const d2 = await cli(f.home, p.dir, ['deploy']);
    expect(d2.code, d2.stderr).toBe(0);
    expect(readFileSync(path.join(root, 'seen'), 'utf8')).toBe('on\noff\n');
  });

  it('a failed deploy turns it off too (after its rollback)', async () => {
    const root = path.join(tmp, 'm2');
    const ok = await cli(f.home, project(root).dir, ['deploy']);
    expect(ok.code, ok.stderr).toBe(0);
    const before = current(root);
    // the check fails on the new release only (it holds FAIL), so the rollback is healthy
    const p = project(root, `health_checks: [{ name: fails, script: "test ! -f FAIL", retries: 1 }]`, { FAIL: '1' });
    const d = await cli(f.home, p.dir, ['deploy', '--maintenance']);
    expect(d.code).toBe(1);
    expect(current(root)).toBe(before);
    expect(readFileSync(path.join(root, 'seen'), 'utf8')).toBe('off\non\n');
    expect(existsSync(path.join(root, 'shared/maintenance.json'))).toBe(false);
  });

  it('says so, in the output and --json warnings, when it cannot turn it off', async () => {
    const root = path.join(tmp, 'm3');
    expect((await cli(f.home, project(root).dir, ['deploy'])).code).toBe(0);
    // the failing check leaves something rm -f cannot remove where the file was
    const p = project(root, `health_checks: [{ name: sabotage, script: "if [ -f FAIL ]; then rm -f ../../shared/maintenance.json; mkdir -p ../../shared/maintenance.json/x; exit 1; fi", retries: 1 }]`, { FAIL: '1' });
    const d = await cli(f.home, p.dir, ['deploy', '--maintenance', '--json']);
    expect(d.code).toBe(1);
    const doc = jsonDoc(d.stdout);
    expect(JSON.stringify(doc)).toContain('maintenance is still ON on web1');
    // the one-line error says it too
    const line = d.stderr.trim().split('\n').pop()!;
    expect(line).toMatch(/^error: .*rolled back .*; maintenance is still ON on web1 \(.*\): run `ee-deploy maintenance off`$/);
    rmSync(path.join(root, 'shared/maintenance.json'), { recursive: true, force: true });
  });
});

describe('rolling deploy behind HAProxy', () => {
  let hap: HaproxyProcess;
  afterAll(async () => hap?.stop());

  it('drains each host before its switch; a failure on the second batch leaves both servers ready on the old release', async () => {
    const port = await freePort();
    hap = await startHaproxy(() => `frontend fe\n  bind 127.0.0.1:${port}\n  default_backend app\nbackend app\n  server s1 127.0.0.1:1\n  server s2 127.0.0.1:2`, port);
    const roots = [path.join(tmp, 'h1'), path.join(tmp, 'h2')];
    const yaml = (checks: string) => `project: shop
source: { dir: ./app }
${checks}
environments:
  production:
    strategy: rolling
    load_balancer: { type: haproxy, host: web1, socket: ${hap.socket}, backend: app, servers: { web1: s1, web2: s2 }, drain_timeout: 5s }
    hosts: [{ host: web1, path: ${JSON.stringify(roots[0])} }, { host: web2, path: ${JSON.stringify(roots[1])} }]
`;
    const p = makeProject(yaml(''), { 'index.html': 'v1\n' });
    const d = await cli(f.home, p.dir, ['deploy']);
    expect(d.code, d.stderr).toBe(0);
    const out = d.stdout + d.stderr;
    expect(out).toMatch(/drained web1 \(waited \d+ ms\)[\s\S]*ready at the load balancer: web1[\s\S]*drained web2[\s\S]*ready at the load balancer: web2/);
    const v1 = roots.map(current);
    mkdirSync(path.join(roots[1], 'shared'), { recursive: true });
    // the second host fails its post check
    // the new release fails its check on web2 only
    const p2 = makeProject(yaml(`health_checks: [{ name: web2-new, script: "case $(pwd -P) in */h2/*) test ! -f FAIL ;; esac", retries: 1 }]`), { 'index.html': 'v2\n', FAIL: '1' });
    const bad = await cli(f.home, p2.dir, ['deploy']);
    expect(bad.code, bad.stderr).toBe(1);
    expect(roots.map(current)).toEqual(v1);
    const stat = parseShowStat(await hap.admin('show stat')).filter((r) => r.pxname === 'app' && r.svname.startsWith('s'));
    expect(stat.map((r) => [r.svname, r.status])).toEqual([
      ['s1', 'no check'],
      ['s2', 'no check'],
    ]);
    expect(bad.stdout + bad.stderr).toMatch(/ready at the load balancer again: web2/);

    // --dry-run prints the traffic steps and changes nothing (HAProxy, maintenance, current)
    const dry = await cli(f.home, p.dir, ['deploy', '--dry-run', '--maintenance']);
    expect(dry.code, dry.stderr).toBe(0);
    const text = dry.stdout + dry.stderr;
    expect(text).toContain('[dry-run] maintenance on (every host) before the switch');
    expect(text).toContain('[dry-run] load balancer web1: set server app/s1 state drain');
    expect(text).toContain('[dry-run] load balancer web1: set server app/s2 state ready');
    expect(roots.map(current)).toEqual(v1);
    expect(roots.some((r) => existsSync(path.join(r, 'shared/maintenance.json')))).toBe(false);
    expect(parseShowStat(await hap.admin('show stat')).filter((r) => r.svname.startsWith('s')).map((r) => r.status)).toEqual(['no check', 'no check']);
  });
});
