/**
 * Fleets. Six real OpenSSH servers on loopback, driven through the built CLI:
 *   sshd0, sshd1, sshd2   direct (aliases in the fixture's ~/.ssh/config)
 *   sshd3                 through sshd0, with the `jump:` key of ee-deploy.yaml
 *   sshd4                 through sshd1, with ProxyJump in ~/.ssh/config; tagged `canary`
 *   127.0.0.1             server 5 by address, with per-host port, user and identity_file
 * Every host deploys into its own directory (per-host `path:`), so the "remote" trees are local
 * dirs the test reads. The scenarios run in order on one fleet; each starts from the state the
 * previous one left (asserted), which keeps the file fast.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, current, historyRecords, isBad, isLocked, newProject, releases, revisionsLog, type Project } from '../helpers/deploy-env.js';
import { startSshd, type SshdFixture } from '../helpers/sshd.js';

let f: SshdFixture;
let tmp: string;
let p: Project;

const HOSTS = ['sshd0', 'sshd1', 'sshd2', 'sshd3', 'sshd4', '127.0.0.1'] as const;
const WEB = ['sshd0', 'sshd1', 'sshd4'];
const WORKER = ['sshd2', 'sshd3', '127.0.0.1'];
const dirOf = (h: string) => path.join(tmp, 'srv', h === '127.0.0.1' ? 'direct' : h);
const currents = () => Object.fromEntries(HOSTS.map((h) => [h, current(dirOf(h))]));
const all = (id: string | undefined) => Object.fromEntries(HOSTS.map((h) => [h, id]));

interface EnvOptions {
  strategy?: string;
  batch?: number | string;
  pause?: string;
  canary?: { hosts?: number; wait?: string };
  before_switch?: string[];
  checks?: Record<string, unknown>[];
}

/** ee-deploy.yaml for the fleet (JSON values are YAML) */
function fleetYaml(o: EnvOptions = {}): string {
  const j = JSON.stringify;
  const hosts = [
    { host: 'sshd0', path: dirOf('sshd0'), roles: ['web'] },
    { host: 'sshd1', path: dirOf('sshd1'), roles: ['web'] },
    { host: 'sshd2', path: dirOf('sshd2'), roles: ['worker'] },
    { host: 'sshd3', path: dirOf('sshd3'), roles: ['worker'], jump: 'sshd0' },
    { host: 'sshd4', path: dirOf('sshd4'), roles: ['web'], tags: ['canary'] },
    { host: '127.0.0.1', port: f.servers[5].port, user: f.user, identity_file: f.clientKey, path: dirOf('127.0.0.1'), roles: ['worker'] },
  ];
  const env: Record<string, unknown> = { strategy: o.strategy ?? 'parallel', max_parallel: 3, path: path.join(tmp, 'srv', 'unused') };
  if (o.batch !== undefined) env.batch = o.batch;
  if (o.pause) env.pause = o.pause;
  if (o.canary) env.canary = o.canary;
  return [
    'project: fleet',
    'source: { dir: ./app }',
    'keep_releases: 10',
    `hooks: { before_switch: ${j(o.before_switch ?? [])} }`,
    `health_checks: ${j(o.checks ?? [])}`,
    'health_defaults: { retries: 1, timeout: 5s }',
    'environments:',
    '  production:',
    ...Object.entries(env).map(([k, v]) => `    ${k}: ${j(v)}`),
    '    hosts:',
    ...hosts.map((h) => `      - ${j(h)}`),
    '',
  ].join('\n');
}

function configure(o: EnvOptions = {}): void {
  writeFileSync(p.config, fleetYaml(o));
}

/** a check that fails on `host` only while the release carries the `bad-marker` file */
const failsOn = (host: string) => ({ name: 'app', script: `if [ -e bad-marker ]; then case "$PWD" in */srv/${host}/*) exit 1;; esac; fi; test -f index.html` });

function version(n: number, bad = false): void {
  writeFileSync(path.join(p.app, 'index.html'), `<h1>v${n}</h1>\n`);
  const marker = path.join(p.app, 'bad-marker');
  if (bad) writeFileSync(marker, 'x\n');
  else if (existsSync(marker)) unlinkSync(marker);
}

/** the built CLI with HOME = the fixture's; FLEET_DEBUG=1 prints every run */
const run = async (args: string[]) => {
  const r = await cli(f.home, p.dir, args, { timeoutMs: 45_000 });
  if (process.env.FLEET_DEBUG) console.log(`$ ee-deploy ${args.join(' ')} -> ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
};

function jsonOf(stdout: string): Record<string, any> {
  return JSON.parse(stdout) as Record<string, any>;
}

function lastRecord(h: string): Record<string, any> {
  const r = historyRecords(dirOf(h));
  return r[r.length - 1] as Record<string, any>;
}

function noLeftovers(): void {
  for (const h of HOSTS) {
    expect(isLocked(dirOf(h)), `${h} lock`).toBe(false);
    const staging = path.join(dirOf(h), '.ee-deploy', 'staging');
    expect(existsSync(staging) ? readdirSync(staging) : [], `${h} staging`).toEqual([]);
    // no release left marked as an interrupted run's (the next run would remove it)
    const pending = path.join(dirOf(h), '.ee-deploy', 'pending');
    expect(existsSync(pending) ? readdirSync(pending) : [], `${h} pending`).toEqual([]);
  }
}

let v1: string;

beforeAll(async () => {
  f = await startSshd({ servers: [{}, {}, {}, {}, { proxyJump: 1 }, {}] });
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-fleet-'));
  p = newProject({ hosts: [] }, { 'index.html': '<h1>v1</h1>\n', 'lib/app.js': 'console.log(1)\n' }, tmp);
  configure();
});

afterAll(async () => {
  await f?.stopAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

// six or more CLI runs against six hosts per test: about 20 s on an idle 2-core machine, twice that
// when it is loaded; the default 60 s would be too close
describe('fleet deploys', { timeout: 120_000 }, () => {
  it('parallel: every host over one connection each (jump hosts included), per-host results in --json', async () => {
    const accepted = async () => Promise.all(f.servers.map((s) => s.count('Accepted publickey')));
    const before = await accepted();
    const r = await run(['deploy', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = jsonOf(r.stdout);
    expect(doc).toMatchObject({ ok: true, status: 'success', strategy: 'parallel' });
    v1 = doc.release as string;
    expect(doc.hosts.map((h: { host: string }) => h.host)).toEqual([...HOSTS]);
    for (const h of doc.hosts) expect(h).toMatchObject({ state: 'deployed', current: v1 });
    expect(currents()).toEqual(all(v1));
    // one connection per host for the whole run; sshd0 and sshd1 also carried sshd3 / sshd4
    const after = await accepted();
    expect(after.map((n, i) => n - before[i])).toEqual([2, 2, 1, 1, 1, 1]);
    noLeftovers();
  });

  it('a host failing to prepare leaves every current untouched and removes the release everywhere', async () => {
    version(2);
    configure({ before_switch: ['[ "$EE_HOST" != sshd2 ]'] });
    const r = await run(['deploy', '--json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: sshd2: .*before_switch hook #1/m);
    const doc = jsonOf(r.stdout);
    expect(doc.error.host).toBe('sshd2');
    const hosts = doc.result.hosts as { host: string; state: string; step?: string }[];
    expect(hosts.find((h) => h.host === 'sshd2')).toMatchObject({ state: 'failed', step: 'before_switch hook #1' });
    for (const h of hosts.filter((x) => x.host !== 'sshd2')) expect(h.state).toBe('unchanged');
    expect(currents()).toEqual(all(v1));
    for (const h of HOSTS) {
      expect(releases(dirOf(h)), h).toEqual([v1]);
      expect(lastRecord(h)).toMatchObject({ action: 'deploy', status: 'failed' });
    }
    noLeftovers();
  });

  it('rolling, batch 2: a post check failing in batch 2 rolls back batches 1 and 2; batch 3 is never touched', async () => {
    version(3, true);
    configure({ strategy: 'rolling', batch: 2, pause: '1s', checks: [failsOn('sshd3')] });
    const r = await run(['deploy']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/rolling, 3 batches: sshd0, sshd1 \| sshd2, sshd3 \| sshd4, 127\.0\.0\.1 \(pause 1\.00s\)/);
    expect(r.stdout).toMatch(/pausing 1\.00s/);
    expect(r.stderr).toMatch(/^error: batch 2\/3: health check "app" failed on sshd3 .*rolled back \(/m);
    expect(currents()).toEqual(all(v1));
    const v3 = releases(dirOf('sshd0')).find((id) => id !== v1)!;
    expect(v3).toBeDefined();
    // switched, then rolled back: kept for inspection, marked bad
    for (const h of ['sshd0', 'sshd1', 'sshd2', 'sshd3']) {
      expect(releases(dirOf(h)), h).toEqual([v1, v3]);
      expect(isBad(dirOf(h), v3), h).toBe(true);
      expect(revisionsLog(dirOf(h)).pop()).toBe(`alice rolled back to release ${v1}`);
      expect(lastRecord(h)).toMatchObject({ id: v3, status: 'rolled_back' });
    }
    // the third batch was never prepared
    for (const h of ['sshd4', '127.0.0.1']) expect(releases(dirOf(h)), h).toEqual([v1]);
    noLeftovers();
  });

  it('canary: a failing canary is rolled back and the rest is left untouched', async () => {
    version(4, true);
    configure({ strategy: 'canary', canary: { hosts: 1, wait: '2s' }, checks: [failsOn('sshd4')] });
    const r = await run(['deploy', '--json']);
    expect(r.code).toBe(1);
    const doc = jsonOf(r.stdout);
    expect(doc.error.message).toMatch(/^canary: health check "app" failed on sshd4/);
    expect(doc.error.host).toBe('sshd4');
    expect(doc.result).toMatchObject({ strategy: 'canary', canary: ['sshd4'], status: 'rolled_back' });
    expect(doc.result.hosts.find((h: { host: string }) => h.host === 'sshd4')).toMatchObject({ state: 'rolled_back', current: v1 });
    expect(currents()).toEqual(all(v1));
    const v4 = doc.result.release as string;
    expect(isBad(dirOf('sshd4'), v4)).toBe(true);
    // prepared up front, never switched: removed again
    for (const h of HOSTS.filter((x) => x !== 'sshd4')) expect(releases(dirOf(h)), h).not.toContain(v4);
    noLeftovers();
  });

  let v5: string;
  it('--canary-only on the web role, then --promote to the whole fleet', async () => {
    version(5);
    configure({ strategy: 'canary', canary: { hosts: 1, wait: '2s' }, checks: [failsOn('nowhere')] });
    const c = await run(['deploy', '--canary-only', '--role', 'web']);
    expect(c.stderr).toBe('');
    expect(c.code).toBe(0);
    expect(c.stdout).toMatch(/watching the canary \(sshd4\) for 2\.00s/);
    expect(c.stdout).toMatch(/canary healthy for .* \([2-9] check rounds\)/);
    expect(c.stdout).toMatch(/--promote/);
    v5 = current(dirOf('sshd4'))!;
    expect(v5).not.toBe(v1);
    expect(currents()).toEqual({ ...all(v1), sshd4: v5 });
    // the other web hosts hold it prepared; the workers were not part of the run
    for (const h of ['sshd0', 'sshd1']) expect(releases(dirOf(h)), h).toContain(v5);
    for (const h of WORKER) expect(releases(dirOf(h)), h).not.toContain(v5);
    for (const h of WEB) expect(lastRecord(h)).toMatchObject({ id: v5, status: 'canary', canary: ['sshd4'] });
    expect(revisionsLog(dirOf('sshd4')).pop()).toMatch(new RegExp(`deployed as release ${v5} by alice$`));
    noLeftovers();

    // the fleet view flags the disagreement
    const rel = await run(['releases']);
    expect(rel.code).toBe(0);
    expect(rel.stdout).toMatch(/WARNING: hosts disagree on the current release: .*sshd4=/);
    const hist = await run(['history', '--role', 'web']);
    expect(hist.stdout).toMatch(new RegExp(`${v5}\\s+deploy\\s+canary \\(sshd4\\)`));

    // a dry run shows the plan and changes nothing
    const dry = await run(['deploy', '--promote', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(new RegExp(`canary release ${v5} .* is live on sshd4; promoting to sshd0, sshd1, sshd2, sshd3, 127\\.0\\.0\\.1`));
    expect(currents()).toEqual({ ...all(v1), sshd4: v5 });

    const prepared = statSync(path.join(dirOf('sshd0'), 'releases', v5)).ino;
    const pr = await run(['deploy', '--promote', '--json']);
    expect(pr.stderr).toBe('');
    expect(pr.code).toBe(0);
    const doc = jsonOf(pr.stdout);
    expect(doc).toMatchObject({ ok: true, status: 'success', promote: true, release: v5 });
    for (const h of doc.hosts) expect(h).toMatchObject({ state: 'deployed', current: v5 });
    expect(currents()).toEqual(all(v5));
    // hosts that held it prepared were not uploaded to again; the others got the same release
    expect(statSync(path.join(dirOf('sshd0'), 'releases', v5)).ino).toBe(prepared);
    const revision = (h: string, file: string) => readFileSync(path.join(dirOf(h), 'releases', v5, file), 'utf8');
    for (const h of HOSTS) for (const file of ['REVISION', 'REVISION_TIME', 'index.html']) expect(revision(h, file), `${h} ${file}`).toBe(revision('sshd4', file));
    // the canary's revisions.log line is not repeated; every other host got one
    expect(revisionsLog(dirOf('sshd4')).filter((l) => l.includes(v5))).toHaveLength(1);
    for (const h of HOSTS) {
      expect(lastRecord(h)).toMatchObject({ id: v5, status: 'success', promote: true });
      expect(revisionsLog(dirOf(h)).filter((l) => l.includes(`release ${v5}`)), h).toHaveLength(1);
    }
    noLeftovers();

    // nothing left to promote
    const again = await run(['deploy', '--promote']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already current on every selected host/);
  });

  it('subsets: --hosts and --role deploy only the selected hosts (the workers with a full canary deploy)', async () => {
    version(6);
    configure();
    const a = await run(['deploy', '--hosts', 'sshd0,127.0.0.1', '--json']);
    expect(a.code).toBe(0);
    const v6 = jsonOf(a.stdout).release as string;
    expect(jsonOf(a.stdout).hosts.map((h: { host: string }) => h.host)).toEqual(['sshd0', '127.0.0.1']);
    expect(currents()).toEqual({ ...all(v5), sshd0: v6, '127.0.0.1': v6 });

    version(7);
    // a whole canary deploy: no host of the selection is tagged canary, so the first one goes first
    configure({ strategy: 'canary', canary: { hosts: 1, wait: '1s' }, checks: [failsOn('nowhere')] });
    const b = await run(['deploy', '--role', 'worker', '--json']);
    expect(b.code).toBe(0);
    const doc = jsonOf(b.stdout);
    expect(doc).toMatchObject({ ok: true, status: 'success', strategy: 'canary', canary: ['sshd2'] });
    expect(doc.hosts.map((h: { host: string; state: string }) => [h.host, h.state])).toEqual(WORKER.map((h) => [h, 'deployed']));
    const v7 = doc.release as string;
    expect(currents()).toEqual({ sshd0: v6, sshd1: v5, sshd2: v7, sshd3: v7, sshd4: v5, '127.0.0.1': v7 });
    const rel = jsonOf((await run(['releases', '--json'])).stdout);
    expect(rel.consistent).toBe(false);

    const bad = await run(['deploy', '--hosts', 'nosuch']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--hosts: no host "nosuch"/);
    noLeftovers();
  });

  it('a plain rollback of a fleet caught between releases moves only the hosts on the newest one', async () => {
    const before = currents();
    const newest = [...new Set(Object.values(before))].sort().pop()!;
    const r = await run(['rollback', '--yes', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/stays on/); // --json: progress lines stay off stdout
    const after = currents();
    for (const h of HOSTS) {
      if (before[h] === newest) expect(after[h], h).not.toBe(newest);
      else expect(after[h], h).toBe(before[h]);
    }
    noLeftovers();
  });
});
