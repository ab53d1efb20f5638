/**
 * Faults over real OpenSSH: a handful of SIGKILLs of the CLI mid-deploy, a connection
 * dropped mid-upload and mid-switch by a TCP proxy between ee-deploy and sshd, and unknown or
 * changed host keys, which must be refused before a single byte of the release is sent.
 */
import { appendFileSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshd, type SshdFixture } from '../helpers/sshd.js';
import { checkTree, faultEnv, leftovers, phaseAt, sleep, spawnCli, VersionedApp, waitForOrphans, type Run } from './harness.js';
import { startProxy, type Proxy } from './proxy.js';

const SHARED = ['storage'];

let f: SshdFixture;
let proxy: Proxy;
let dir: string;
let app: VersionedApp;
const verified = new Set<string>();
const kills: { phase: string; survived: boolean }[] = [];

function writeConfig(name: string, host: string, root: string, hooks = { before: ['sleep 0.2'], after: ['sleep 0.2'] }): string {
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    [
      `project: ${name}`,
      'source: { dir: ./app }',
      'keep_releases: 2',
      'shared: { dirs: [storage] }',
      'hooks:',
      `  before_switch: ${JSON.stringify(hooks.before)}`,
      `  after_switch: ${JSON.stringify(hooks.after)}`,
      'environments:',
      '  production:',
      `    hosts: [{ host: ${host}, path: ${JSON.stringify(root)} }]`,
      '',
    ].join('\n'),
  );
  return file;
}

const env = () => faultEnv({ HOME: f.home });
const deploy = (config: string, extra: Parameters<typeof spawnCli>[1] extends infer O ? Partial<O> : never = {}) => spawnCli(['deploy', '-c', config, '-v'], { cwd: dir, env: env(), ...extra });

beforeAll(async () => {
  f = await startSshd({ servers: [{ alias: 'web' }, { alias: 'unknown', knownHosts: 'omit' }, { alias: 'changed', knownHosts: 'changed' }] });
  proxy = await startProxy(f.servers[0].port);
  // `flaky` reaches the first sshd through the proxy; known_hosts holds that sshd's own key for it
  appendFileSync(f.sshConfig, `\nHost flaky\n  HostName 127.0.0.1\n  Port ${proxy.port}\n  User ${f.user}\n  IdentityFile ${f.clientKey}\n  IdentitiesOnly yes\n`);
  appendFileSync(f.knownHosts, `[127.0.0.1]:${proxy.port} ${f.servers[0].hostKeyPublic}\n`);
  dir = mkdtempSync(path.join(f.dir, 'proj-'));
  app = new VersionedApp(path.join(dir, 'app'), { files: 300, blobBytes: 3 * 1024 * 1024 });
  await app.bump();
});

afterAll(async () => {
  if (kills.length) console.log(`kill sweep (sshd): ${kills.length} kill points tried, ${kills.filter((k) => k.survived).length} survived; phases: ${kills.map((k) => k.phase).join(', ')}`);
  await proxy?.close();
  await f?.stopAll();
});

describe('SIGKILL over SSH', () => {
  const POINTS: [RegExp, number][] = [
    [/uploading \d+/, 60],
    [/@@ee uploaded/, 0],
    [/@@ee hook before_switch 0/, 80],
    [/switching current to/, 0],
    [/@@ee switched/, 0],
    [/\bok\s+current -> /, 3],
  ];
  let root: string;
  let config: string;
  beforeAll(async () => {
    root = path.join(f.dir, 'kill-target');
    config = writeConfig('killssh', 'web', root);
    const first = await deploy(config);
    expect(first.code, first.stderr).toBe(0);
  });

  it.each(POINTS.map(([on, delayMs], i) => ({ i, on, delayMs })))('kill #$i: $delayMs ms after $on', async ({ on, delayMs }) => {
    const old = (await checkTree(root, app, { shared: SHARED, verified })).current;
    await app.bump();
    const killed = await deploy(config, { killAt: { on, delayMs } });
    expect(killed.killed, 'the kill must land before the deploy ends').toBe(true);
    const k = { phase: phaseAt(killed.lines.slice(0, killed.linesAtKill)), survived: false };
    kills.push(k);
    const after = await checkTree(root, app, { shared: SHARED, verified });
    expect(after.problems, `after a kill in ${k.phase}`).toEqual([]);
    expect([old, killed.release]).toContain(after.current);

    // at once: it waits while the killed run's guard is still ending that run's scripts and hooks
    const next = await spawnCli(['deploy', '-c', config, '-v', '--lock-wait', '30s'], { cwd: dir, env: env() });
    expect(next.code, `next deploy after a kill in ${k.phase}:\n${next.stdout}\n${next.stderr}`).toBe(0);
    const done = await checkTree(root, app, { shared: SHARED, verified });
    expect(done.problems).toEqual([]);
    expect(done.current).toBe(next.release);
    expect(leftovers(root)).toEqual([]);
    k.survived = true;
  });
});

describe('dropped connection (TCP proxy between ee-deploy and sshd)', () => {
  let root: string;
  let config: string;
  let good: string | undefined;
  beforeAll(async () => {
    root = path.join(f.dir, 'drop-target');
    config = writeConfig('dropme', 'flaky', root, { before: ['sleep 0.1'], after: ['sleep 0.3'] });
    const first = await deploy(config);
    expect(first.code, first.stderr).toBe(0);
    good = first.release;
  });

  async function expectIntact(r: Run, what: string) {
    expect(r.code, `${what}: exit code\n${r.stdout}\n${r.stderr}`).toBe(3);
    expect(r.stderr).toMatch(/^error: .*(connection|lost|closed)/im);
    expect(r.stderr.trim().split('\n').filter((l) => l.startsWith('error: '))).toHaveLength(1);
    // the remote side of the cut connection ends by itself (tar sees EOF); give it a moment
    await sleep(300);
    await waitForOrphans(root, 3000);
    const t = await checkTree(root, app, { shared: SHARED, verified });
    expect(t.problems, what).toEqual([]);
    expect(t.current, `${what}: current must be the release from before`).toBe(good);
    // the new release is gone, or (switched, then put back) kept for inspection marked BAD_RELEASE
    const stays = t.releases.filter((id) => id === r.release && !existsSync(path.join(root, 'releases', id, 'BAD_RELEASE')));
    expect(stays, `${what}: the new release must not stay in releases/ looking healthy`).toEqual([]);
    // and the next deploy goes through (the lock is ours, or provably stale)
    const next = await deploy(config);
    expect(next.code, `${what}: next deploy\n${next.stdout}\n${next.stderr}`).toBe(0);
    good = next.release;
    expect(leftovers(root)).toEqual([]);
  }

  it('mid-upload: exit 3, current intact, no partial release', async () => {
    await app.bump();
    proxy.cutAfter(1024 * 1024); // the upload is ~3 MiB; the handshake and `open` are a few KiB
    const r = await deploy(config);
    expect(r.lines.some((l) => /uploading \d+/.test(l)), r.stdout).toBe(true);
    expect(r.lines.some((l) => /@@ee uploaded/.test(l)), 'the cut came after the upload finished').toBe(false);
    await expectIntact(r, 'cut mid-upload');
  });

  it('mid-switch: exit 3, current intact, nothing half-switched', async () => {
    await app.bump();
    let cut = -1;
    // cut the moment the CLI announces the switch: the switch command is in flight or has just run
    const r = await deploy(config, { onLine: (l) => void (cut < 0 && /switching current to/.test(l) && (cut = proxy.cutNow())) });
    expect(cut, 'connections cut').toBeGreaterThan(0);
    await expectIntact(r, 'cut mid-switch');
  });

  it('right after the switch ran (its answer lost): reconnects, puts current back, exit 3', async () => {
    await app.bump();
    let cut = -1;
    // `@@ee switched` arrives while the after_switch hook runs: the link is switched on the server,
    // but the switch command never returns to ee-deploy
    const r = await deploy(config, { onLine: (l) => void (cut < 0 && /@@ee switched/.test(l) && (cut = proxy.cutNow())) });
    expect(cut, 'connections cut').toBeGreaterThan(0);
    expect(r.stdout, r.stdout).toMatch(new RegExp(`reconnected after the connection was lost; current -> ${r.release}`));
    expect(r.stderr).toMatch(/rolled back/);
    await expectIntact(r, 'cut after the switch');
  });
});

describe('host keys', () => {
  it.each([
    ['unknown', 1, /not in known_hosts|unknown|authenticity/i],
    ['changed', 2, /CHANGED/],
  ] as const)('%s host key: refused before any byte is uploaded (exit 3)', async (alias, i, pattern) => {
    const root = path.join(f.dir, `hk-${alias}`);
    const config = writeConfig(`hk-${alias}`, alias, root);
    const r = await spawnCli(['deploy', '-c', config], { cwd: dir, env: env() });
    expect(r.code, r.stderr).toBe(3);
    const err = r.stderr.trim().split('\n');
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/^error: /);
    expect(err[0]).toMatch(pattern);
    expect(err[0]).toContain(f.servers[i].hostKeyFingerprint);
    expect(r.stdout).not.toMatch(/uploading/);
    // sshd: no authentication, no session (so no command, no upload)
    expect(await f.servers[i].count('Starting session')).toBe(0);
    expect(await f.servers[i].count('Accepted publickey')).toBe(0);
    expect(existsSync(root)).toBe(false);
  });
});
