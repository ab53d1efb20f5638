/**
 * The same sshd scenarios with both SSH clients: the built-in one (ssh2) and `ssh_client:
 * openssh` (the system ssh, one ControlMaster per host). Same results, same exit codes, the same
 * one-line errors, one connection per host per run, and with openssh no master left behind.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResolvedHost } from '../../src/config/resolve.js';
import { cmd, script } from '../../src/remote/shell.js';
import { openLoadBalancer } from '../../src/traffic/lb.js';
import { openTransport } from '../../src/transport/open.js';
import { parseShowStat, startHaproxy } from '../helpers/proxies.js';
import { cli, current, historyRecords, newProject, projectYaml, releases, server, type ProjectSpec } from '../helpers/deploy-env.js';
import { freePort, startSshd, type SshdFixture } from '../helpers/sshd.js';

const CLIENTS = ['builtin', 'openssh'] as const;
type Client = (typeof CLIENTS)[number];

let f: SshdFixture;
let tmp: string;

beforeAll(async () => {
  f = await startSshd({ servers: [server('web1'), server('web2'), server('web3'), server('stranger', { knownHosts: 'omit' }), server('impostor', { knownHosts: 'changed' }), server('only-openssh', { sshConfig: 'KnownHostsCommand /bin/true' }), server('nofwd', { sshdConfig: 'AllowStreamLocalForwarding no' })] });
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-sshc-'));
});

afterAll(async () => {
  await f?.stopAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** the project's YAML with `ssh_client` set on the environment */
function yamlFor(spec: ProjectSpec, client: Client, top = ''): string {
  return top + projectYaml(spec).replace(/^( {2}production:\n)/m, `$1    ssh_client: ${client}\n`);
}

/** a TMPDIR of the run's own, so the test can see what the openssh client leaves in it */
function runTmp(name: string): string {
  const d = path.join(tmp, name);
  mkdirSync(d, { recursive: true });
  return d;
}

/** `ssh` processes (masters or sessions) whose command line names `dir` (their ControlPath) */
function sshProcessesUsing(dir: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${p}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmdline.includes(dir) && /(^|\/)ssh\0/.test(cmdline)) out.push(Number(p));
  }
  return out;
}

async function accepted(): Promise<number[]> {
  await sleep(200); // sshd writes its log lines asynchronously
  return Promise.all(f.servers.map((s) => s.count('Accepted publickey')));
}
const delta = (a: number[], b: number[]) => b.map((x, i) => x - a[i]).slice(0, 5);

describe.each(CLIENTS)('ssh_client: %s', (client) => {
  it('deploys to 3 hosts, redeploys incrementally, rolls back: one connection per host per run, every history line signed by the login key', async () => {
    const roots = [1, 2, 3].map((i) => path.join(tmp, `${client}-fleet${i}`));
    const spec: ProjectSpec = { hosts: roots.map((root, i) => ({ host: `web${i + 1}`, path: root })) };
    const files: Record<string, string> = { 'index.html': 'v1\n' };
    for (let i = 0; i < 30; i++) files[`lib/m${i}.js`] = `module ${i}\n`.repeat(40);
    const p = newProject(spec, files, tmp);
    writeFileSync(path.join(p.dir, 'allowed_signers'), `deployer@ci namespaces="ee-deploy" ${f.clientKeyPublic.trim()}\n`);
    writeFileSync(p.config, yamlFor(spec, client, 'audit: { allowed_signers: allowed_signers }\n'));
    const TMPDIR = runTmp(`${client}-rt`);
    const env = { TMPDIR, EE_DEPLOY_CACHE_DIR: path.join(tmp, `${client}-cache`), XDG_STATE_HOME: path.join(tmp, `${client}-state`) };

    let before = await accepted();
    let r = await cli(f.home, p.dir, ['deploy'], { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(delta(before, await accepted())).toEqual([1, 1, 1, 0, 0]);
    const first = current(roots[0])!;

    writeFileSync(path.join(p.app, 'lib/m7.js'), 'changed\n');
    before = await accepted();
    r = await cli(f.home, p.dir, ['deploy'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/uploading 1 changed of 31 files/);
    expect(delta(before, await accepted())).toEqual([1, 1, 1, 0, 0]);
    for (const root of roots) expect(readFileSync(path.join(root, 'current/lib/m7.js'), 'utf8')).toBe('changed\n');

    r = await cli(f.home, p.dir, ['rollback', '--yes'], { env });
    expect(r.code, r.stderr).toBe(0);
    for (const root of roots) {
      expect(current(root)).toBe(first);
      expect(releases(root)).toHaveLength(2);
      const hist = historyRecords(root);
      expect(hist.map((h) => h.action)).toEqual(['deploy', 'deploy', 'rollback']);
      for (const h of hist) expect(String(h.sig)).toMatch(/^-----BEGIN SSH SIGNATURE-----/);
    }
    const a = await cli(f.home, p.dir, ['audit', 'verify'], { env });
    expect(a.code, a.stdout + a.stderr).toBe(0);
    expect(a.stdout).toBe(['web1', 'web2', 'web3'].map((h) => `${h}: 3 lines intact (signed by deployer@ci)\n`).join(''));

    // nothing left behind: no master, no runtime directory
    expect(sshProcessesUsing(TMPDIR)).toEqual([]);
    expect(readdirSync(TMPDIR)).toEqual([]);
  });

  it('runs 20 commands at once over one connection; streams stdin, stdout, stderr and exit codes; forwards to a Unix socket and a port on the host', async () => {
    const restore = f.useHome();
    const echo = net.createServer((s) => s.once('data', (d) => s.end(`echo:${d.toString()}`)));
    const sock = path.join(tmp, `${client}-echo.sock`);
    await new Promise<void>((r) => echo.listen(sock, r));
    const tcp = net.createServer((s) => s.once('data', (d) => s.end(`tcp:${d.toString()}`)));
    const port = await freePort();
    await new Promise<void>((r) => tcp.listen(port, '127.0.0.1', r));
    const host: ResolvedHost = { ...f.resolvedHost(0), sshClient: client };
    const before = await accepted();
    const t = await openTransport(host, { interactive: false });
    try {
      expect(t.signer?.publicKey).toBeDefined();
      expect(t.loopback).toBe(true);
      const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => t.exec(cmd('sh', '-c', 'echo out $1; echo err $1 >&2; exit $1', 'x', String(i)))));
      expect(rs.map((x) => [x.code, x.stdout, x.stderr])).toEqual(rs.map((_, i) => [i, `out ${i}\n`, `err ${i}\n`]));
      const big = 'é'.repeat(300_000);
      const cat = await t.exec(cmd('cat'), { stdin: big });
      expect(cat.stdout).toBe(big);
      const t0 = Date.now();
      const timed = await t.exec(cmd('sleep', '10'), { timeoutMs: 300 });
      expect(timed).toMatchObject({ code: null, timedOut: true });
      expect(Date.now() - t0).toBeLessThan(3000);
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 300);
      expect(await t.exec(cmd('sleep', '10'), { signal: ac.signal })).toMatchObject({ code: null });
      expect(Date.now() - t0).toBeLessThan(6000);

      const talk = async (target: { path: string } | { port: number }) => {
        const s = await t.connect!(target);
        return new Promise<string>((resolve, reject) => {
          let got = '';
          s.on('data', (d: Buffer) => (got += d.toString()));
          s.on('error', reject);
          s.on('end', () => resolve(got));
          s.write('ping');
        });
      };
      expect(await talk({ path: sock })).toBe('echo:ping');
      expect(await talk({ port })).toBe('tcp:ping');
      await expect(talk({ path: path.join(tmp, 'no-such.sock') })).rejects.toThrow(/cannot reach .*no-such\.sock through SSH/);
      expect(delta(before, await accepted())).toEqual([1, 0, 0, 0, 0]);
    } finally {
      await t.close();
      echo.close();
      tcp.close();
      restore();
    }
  });
});

describe.each(CLIENTS)('ssh_client: %s, HAProxy admin socket over SSH', (client) => {
  it('drains and readies a server through stream forwarding; with forwarding refused by sshd, through socat/nc on the host', async () => {
    const restore = f.useHome();
    const appPort = await freePort();
    const hapPort = await freePort();
    const hap = await startHaproxy(() => `frontend fe\n  bind 127.0.0.1:${hapPort}\n  default_backend app\nbackend app\n  server s1 127.0.0.1:${appPort}`, hapPort);
    const state = async () => parseShowStat(await hap.admin('show stat')).find((r) => r.pxname === 'app' && r.svname === 's1')!.status;
    const web1: ResolvedHost = { ...f.resolvedHost(0), path: '/srv/x' };
    try {
      const hasTool = ['socat', 'nc'].some((t) => ['/usr/bin', '/bin', '/usr/local/bin'].some((d) => existsSync(path.join(d, t))));
      for (const lbHost of ['web1', 'nofwd']) {
        const lb = await openLoadBalancer({ type: 'haproxy', host: lbHost, socket: hap.socket, backend: 'app', servers: { web1: 's1' }, drain_timeout: 2000 }, { interactive: false, pollMs: 50, sshClient: client });
        try {
          if (lbHost === 'nofwd' && !hasTool) {
            await expect(lb.drain([web1])).rejects.toThrow(`load balancer nofwd: SSH stream forwarding to ${hap.socket} was refused and neither socat nor nc is installed`);
            continue;
          }
          await lb.drain([web1]);
          expect(await state()).toBe('DRAIN');
          await lb.ready([web1]);
          expect(await state()).toMatch(/^(UP|no check)$/);
        } finally {
          await lb.close();
        }
      }
    } finally {
      await hap.stop();
      restore();
    }
  });
});

describe.each(CLIENTS)('ssh_client: %s, connection lost', (client) => {
  it('a server that goes away fails the running and the next command with a ConnectionError (exit 3)', async () => {
    const restore = f.useHome();
    const t = await openTransport({ ...f.resolvedHost(2), sshClient: client }, { interactive: false });
    try {
      // the server goes away once the command runs there (a fixed wait can be too short on a
      // loaded machine, where starting the session takes longer)
      let started!: () => void;
      const running0 = new Promise<void>((r) => (started = r));
      const running = t.exec(script({}, 'echo started', 'sleep 20'), { onStdout: () => started() }).then(
        () => undefined,
        (e: unknown) => e,
      );
      await running0;
      await f.servers[2].kill();
      expect(await running).toMatchObject({ exitCode: 3, message: expect.stringMatching(/^connection to ee-test@127\.0\.0\.1:\d+ \(web3\) lost/) });
      await expect(t.exec(cmd('true'))).rejects.toMatchObject({ exitCode: 3, message: expect.stringMatching(/^connection to .* lost/) });
    } finally {
      await t.close();
      await f.servers[2].start();
      restore();
    }
  });
});

describe('both clients fail alike', () => {
  const scenarios: { name: string; host: () => Record<string, unknown> }[] = [
    { name: 'unknown host key', host: () => ({ host: 'stranger' }) },
    { name: 'changed host key', host: () => ({ host: 'impostor' }) },
    { name: 'authentication failure', host: () => ({ host: 'web1', user: 'nobody' }) },
    { name: 'nothing listening on the port', host: () => ({ host: 'web1', port: closedPort }) },
    { name: 'a host name that does not resolve', host: () => ({ host: 'no-such-host.invalid' }) },
  ];
  let closedPort = 0;
  beforeAll(async () => {
    closedPort = await freePort();
  });

  it.each(scenarios.map((s) => [s.name, s] as const))('%s: exit 3, the same one-line error, nothing created, nothing left running', async (_n, s) => {
    const out: Record<Client, { code: number | null; errors: string[] }> = {} as never;
    for (const client of CLIENTS) {
      const root = path.join(tmp, `fail-${client}-${s.name.replace(/\W+/g, '-')}`);
      const h = { ...s.host(), path: root };
      const p = newProject({ hosts: [{ host: 'x', path: root }] }, undefined, tmp);
      writeFileSync(p.config, yamlFor({ hosts: [{ host: 'x', path: root }] }, client).replace(/- \{"host":"x".*\}/, `- ${JSON.stringify(h)}`));
      const TMPDIR = runTmp(`fail-rt-${client}`);
      const r = await cli(f.home, p.dir, ['deploy'], { env: { TMPDIR } });
      const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
      out[client] = { code: r.code, errors };
      if (process.env.SHOW_ERRORS) console.log(client, errors[0]);
      expect(errors, r.stderr).toHaveLength(1);
      expect(existsSync(root)).toBe(false);
      expect(sshProcessesUsing(TMPDIR)).toEqual([]);
      expect(readdirSync(TMPDIR)).toEqual([]);
    }
    expect(out.builtin.code).toBe(3);
    expect(out.openssh).toEqual(out.builtin);
  });
});

describe('a setup only OpenSSH handles', () => {
  it('KnownHostsCommand: the built-in client refuses it by name (exit 2, nothing touched), ssh_client: openssh deploys', async () => {
    const r: Record<Client, Awaited<ReturnType<typeof cli>>> = {} as never;
    for (const client of CLIENTS) {
      const root = path.join(tmp, `only-openssh-${client}`);
      const spec: ProjectSpec = { hosts: [{ host: 'only-openssh', path: root }] };
      const p = newProject(spec, undefined, tmp);
      writeFileSync(p.config, yamlFor(spec, client));
      r[client] = await cli(f.home, p.dir, ['deploy']);
      if (client === 'builtin') expect(existsSync(root)).toBe(false);
      else expect(readFileSync(path.join(root, 'current', 'index.html'), 'utf8')).toBe('<h1>v1</h1>\n');
    }
    expect(r.builtin.code).toBe(2);
    expect(r.builtin.stderr).toMatch(/^error: .*KnownHostsCommand.*ssh_client: openssh/m);
    expect(r.openssh.code, r.openssh.stderr).toBe(0);
    expect(r.openssh.stderr).toBe('');
  });
});

describe('ssh_client: openssh ends its masters with the run', () => {
  it.each([['SIGTERM'], ['SIGKILL']] as const)('a run killed by %s (a hook running) leaves no master, no session and no runtime directory', async (signal) => {
    const root = path.join(tmp, `killed-${signal}`);
    const marker = path.join(tmp, `killed-${signal}.started`);
    const spec: ProjectSpec = { hosts: [{ host: 'web2', path: root }], hooks: { before_switch: [`touch ${marker}; sleep 30`] } };
    const p = newProject(spec, undefined, tmp);
    writeFileSync(p.config, yamlFor(spec, 'openssh'));
    const TMPDIR = runTmp(`killed-rt-${signal}`);
    const started = (async () => {
      for (let i = 0; i < 600 && !existsSync(marker); i++) await sleep(50);
    })();
    const closedBefore = await f.servers[1].count('Disconnected from user');
    const r = await cli(f.home, p.dir, ['deploy'], { env: { TMPDIR }, kill: { signal, afterMs: 0, after: started } });
    if (signal === 'SIGTERM') expect(r.code).toBe(130);
    else expect(r.signal).toBe('SIGKILL');
    // the guard notices the dead process at once; give ssh a moment to close the connection
    let left: number[] = [];
    for (let i = 0; i < 100; i++) {
      left = sshProcessesUsing(TMPDIR);
      if (!left.length && !readdirSync(TMPDIR).length && (await f.servers[1].count('Disconnected from user')) > closedBefore) break;
      await sleep(50);
    }
    expect(left).toEqual([]);
    expect(readdirSync(TMPDIR)).toEqual([]);
    expect(await f.servers[1].count('Disconnected from user')).toBe(closedBefore + 1);
  });
});
