/**
 * One deploy at a time, judged on the server (over real OpenSSH): a client SIGKILLed during its
 * before_switch hook takes that hook down with it within seconds (its guard sees the connection
 * go), the next deploy goes on only once nothing of the dead run runs, and the dead run records
 * nothing; two clients that share a host name (one in its own pid namespace, where the other's
 * pid does not exist) never run at once.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cli.js';
import { startSshd, type SshdFixture } from '../helpers/sshd.js';
import { faultEnv, sleep, spawnCli, type Run } from './harness.js';

let f: SshdFixture;
let dir: string;
let root: string;
let config: string;
let opensshConfig: string;
let rollbackConfig: string;

const env = (extra: NodeJS.ProcessEnv = {}) => faultEnv({ HOME: f.home, ...extra });
const marks = () => path.join(dir, 'marks');
const mark = (name: string) => path.join(marks(), name);
const history = () => (existsSync(path.join(root, '.ee-deploy', 'history.jsonl')) ? readFileSync(path.join(root, '.ee-deploy', 'history.jsonl'), 'utf8').trim().split('\n').filter(Boolean) : []);
const revisions = () => (existsSync(path.join(root, 'revisions.log')) ? readFileSync(path.join(root, 'revisions.log'), 'utf8').trim().split('\n').filter(Boolean) : []);
/** a live (not zombie: killed processes wait to be reaped by init) process in that group? */
const groupAlive = (pgid: number) => {
  for (const pid of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') return true;
  }
  return false;
};
/** the same, for the hooks (sh, /proc; the config would take a brace for one of its variables) */
const GROUP_ALIVE_SH = [
  'g=$1',
  'for s in /proc/[0-9]*/stat; do',
  '  l=$(cat "$s" 2>/dev/null) || continue',
  '  l=${l##*) }; set -- $l',
  '  [ "$3" = "$g" ] || continue',
  '  case $1 in Z|X) ;; *) exit 0 ;; esac',
  'done',
  'exit 1',
  '',
].join('\n');
const until = async (what: () => boolean, ms: number) => {
  const end = Date.now() + ms;
  while (!what() && Date.now() < end) await sleep(50);
  return what();
};

beforeAll(async () => {
  f = await startSshd({ servers: [{ alias: 'web' }] });
  dir = mkdtempSync(path.join(f.dir, 'live-'));
  root = path.join(dir, 'srv');
  spawnSync('mkdir', ['-p', path.join(dir, 'app'), marks()]);
  writeFileSync(path.join(dir, 'app', 'index.html'), 'v1\n');
  writeFileSync(mark('group-alive.sh'), GROUP_ALIVE_SH);
  config = path.join(dir, 'ee-deploy.yaml');
  // each run names itself (TAG) and sleeps SLEEP seconds in its hook; the hook's shell is its own
  // process group (the pid it writes), and it says whether the hook of run PEER still runs
  const hook = [
    `echo $$ > ${mark('${TAG}.pgid')}`,
    `p=${mark('${PEER}.pgid')}; if [ -f "$p" ]; then q=$(cat "$p"); sh ${mark('group-alive.sh')} "$q" && echo "$q" > ${mark('overlap-${TAG}')}; fi`,
    'sleep ${SLEEP}',
    `touch ${mark('${TAG}.done')}`,
  ].join('; ');
  const yaml = (client?: string) =>
    ['project: live', 'source: { dir: ./app }', 'hooks:', `  before_switch: [${JSON.stringify(hook)}]`, 'environments:', '  production:', ...(client ? [`    ssh_client: ${client}`] : []), `    hosts: [{ host: web, path: ${JSON.stringify(root)} }]`, ''].join('\n');
  writeFileSync(config, yaml());
  // the same project through the system ssh (ControlMaster): its guard must see the client go too
  opensshConfig = path.join(dir, 'openssh.yaml');
  writeFileSync(opensshConfig, yaml('openssh'));
  // the same hook after a rollback (the single-exec rollback runs it inside its one exec)
  rollbackConfig = path.join(dir, 'rollback.yaml');
  writeFileSync(rollbackConfig, yaml().replace('  before_switch:', '  after_rollback:'));
  const first = await spawnCli(['deploy', '-c', config], { cwd: dir, env: env({ TAG: 'first', PEER: 'none', SLEEP: '0' }) });
  expect(first.code, first.stderr).toBe(0);
});

afterAll(async () => {
  await f?.stopAll();
});

describe('a run lives on the server only as long as its client', () => {
  it.each([
    ['ssh2', () => config],
    ['openssh', () => opensshConfig],
  ])('kill -9 of the client mid-hook (ssh_client %s): the hook group is gone within seconds, the next deploy waits for that, the dead run records nothing', async (client, cfg) => {
    const config = cfg();
    for (const m of ['a.pgid', 'a.done', 'b.done', 'overlap-b']) rmSync(mark(m), { force: true });
    const histBefore = history().length;
    const revBefore = revisions().length;
    writeFileSync(path.join(dir, 'app', 'index.html'), `v2 ${client}\n`);
    const a = spawnCli(['deploy', '-c', config, '-v'], { cwd: dir, env: env({ TAG: 'a', PEER: 'none', SLEEP: '30' }), killAt: { on: /@@ee hook before_switch 0/, delayMs: 300 } });
    expect(await until(() => existsSync(mark('a.pgid')), 20_000), 'run A reached its hook').toBe(true);
    const pgid = Number(readFileSync(mark('a.pgid'), 'utf8'));
    const killedA: Run = await a;
    expect(killedA.killed).toBe(true);
    const killedAt = Date.now();
    expect(groupAlive(pgid), 'the hook runs on right after the kill').toBe(true);
    // the next deploy starts at once and may wait for the lock
    const b = spawnCli(['deploy', '-c', config, '--lock-wait', '30s'], { cwd: dir, env: env({ TAG: 'b', PEER: 'a', SLEEP: '0' }) });
    expect(await until(() => !groupAlive(pgid), 8000), 'the dead run\'s hook group ended').toBe(true);
    const goneAfter = Date.now() - killedAt;
    expect(goneAfter).toBeLessThan(6000);
    const rb = await b;
    expect(rb.code, rb.stdout + rb.stderr).toBe(0);
    // B's hook never ran beside A's (checked on the server, from inside B's hook)
    expect(existsSync(mark('b.done'))).toBe(true);
    expect(existsSync(mark('overlap-b')), 'B ran its hook while A\'s still ran').toBe(false);
    await sleep(1500);
    expect(existsSync(mark('a.done')), 'A\'s hook ran to its end').toBe(false);
    // only B recorded: one more history line and revisions.log line, B's, a success
    const hist = history();
    expect(hist.length).toBe(histBefore + 1);
    expect(JSON.parse(hist[hist.length - 1])).toMatchObject({ status: 'success', id: rb.release });
    expect(revisions().length).toBe(revBefore + 1);
    console.log(`run liveness (${client}): hook group of the killed run gone ${goneAfter} ms after the kill`);
  });

  it('kill -9 of a single-exec rollback mid-hook: the hook group is gone within seconds, no line from it in history or revisions.log, the next run takes over', async () => {
    const histBefore = history().length;
    const revBefore = revisions().length;
    const live = readFileSync(path.join(root, 'current', 'index.html'), 'utf8');
    const rb = spawnCli(['rollback', '-c', rollbackConfig, '--yes', '-v'], { cwd: dir, env: env({ TAG: 'r', PEER: 'none', SLEEP: '30' }), killAt: { on: /@@ee hook after_rollback 0/, delayMs: 300 } });
    expect(await until(() => existsSync(mark('r.pgid')), 20_000), 'the rollback reached its hook').toBe(true);
    const pgid = Number(readFileSync(mark('r.pgid'), 'utf8'));
    expect((await rb).killed).toBe(true);
    expect(await until(() => !groupAlive(pgid), 8000), 'the killed rollback\'s hook group ended').toBe(true);
    await sleep(1000);
    expect(existsSync(mark('r.done'))).toBe(false);
    expect(history().length, 'no history line from the killed rollback').toBe(histBefore);
    expect(revisions().length, 'no revisions.log line from the killed rollback').toBe(revBefore);
    // current did switch (the step's first change), unrecorded; the next deploy takes the lock over
    expect(readFileSync(path.join(root, 'current', 'index.html'), 'utf8')).not.toBe(live);
    writeFileSync(path.join(dir, 'app', 'index.html'), 'after the killed rollback\n');
    const next = await spawnCli(['deploy', '-c', config, '--lock-wait', '30s'], { cwd: dir, env: env({ TAG: 'n', PEER: 'r', SLEEP: '0' }) });
    expect(next.code, next.stdout + next.stderr).toBe(0);
    expect(next.stdout).toContain('took over the deploy lock');
    expect(existsSync(mark('overlap-n'))).toBe(false);
  });

  it('two clients sharing a host name, one in a pid namespace where the other\'s pid does not exist: the second waits (exit 4), never breaks in', async () => {
    const unshare = spawnSync('unshare', ['-p', '-f', '--mount-proc', 'true']);
    expect(unshare.status, `unshare needs root and util-linux: ${String(unshare.stderr)}`).toBe(0);
    writeFileSync(path.join(dir, 'app', 'index.html'), 'v3\n');
    const a = spawnCli(['deploy', '-c', config], { cwd: dir, env: env({ TAG: 'c', PEER: 'd', SLEEP: '4' }) });
    expect(await until(() => existsSync(mark('c.pgid')), 20_000)).toBe(true);
    // machine B: same host name (os.hostname()), its own pid namespace
    const b = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn('unshare', ['-p', '-f', '--mount-proc', process.execPath, CLI, 'deploy', '-c', config], { cwd: dir, env: env({ TAG: 'd', PEER: 'c', SLEEP: '0' }), stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('close', (code) => resolve({ code, out }));
    });
    expect(b.code, b.out).toBe(4);
    expect(b.out).toContain(`deploy lock held by alice@${os.hostname()}`);
    expect(existsSync(mark('d.pgid')), 'B never reached its hook').toBe(false);
    const ra = await a;
    expect(ra.code, ra.stderr).toBe(0);
    expect(existsSync(mark('overlap-c'))).toBe(false);
    expect(JSON.parse(history().pop()!)).toMatchObject({ status: 'success', id: ra.release });
  });
});
