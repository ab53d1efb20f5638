/**
 * Private, throwaway OpenSSH servers on 127.0.0.1 for integration tests (recipe and pitfalls:
 * /work/shared/bench/sshd.sh). Each server has its own ed25519 host key, sshd_config, pid file
 * and log (LogLevel VERBOSE, so tests can count `Accepted publickey` / `Starting session`), all
 * in one temp dir, plus a fake HOME with `.ssh/config` (one Host alias per server) and
 * `.ssh/known_hosts`.
 *
 *   const f = await startSshd({ count: 2 });
 *   const restore = f.useHome();             // process.env.HOME = f.home, SSH_AUTH_SOCK unset
 *   ... connectSsh(f.resolvedHost(0), ...) or ssh to f.servers[0].alias ...
 *   restore(); await f.stopAll();
 *
 * Logs in as currentUser() (as root: the test user made by global-setup). Everything is
 * generated in parallel with OpenSSH's own tools (ssh-keygen), so fingerprints and hashed
 * known_hosts lines are OpenSSH's, not ours.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { chmod, copyFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ResolvedHost } from '../../src/config/resolve.js';

const run = promisify(execFile);
const SSHD = process.env.SSHD_BIN ?? '/usr/sbin/sshd';

/** How a server appears in `~/.ssh/known_hosts`. */
export type KnownHostsMode = 'plain' | 'hashed' | 'omit' | 'changed';

export interface SshdServerOptions {
  /** Host alias in ~/.ssh/config (default `sshd<i>`) */
  alias?: string;
  /** default: the fixture's `knownHosts` (itself default `plain`) */
  knownHosts?: KnownHostsMode;
  /** write `ProxyJump <alias of that server>` in this server's Host block */
  proxyJump?: number;
  /** extra sshd_config lines; they come first, so they override the defaults (e.g. `MaxSessions 2`) */
  sshdConfig?: string;
  /** extra lines for this server's Host block in ~/.ssh/config */
  sshConfig?: string;
}

export interface SshdOptions {
  /** number of servers (default 1, or servers.length) */
  count?: number;
  servers?: SshdServerOptions[];
  /** default known_hosts mode for every server (default `plain`) */
  knownHosts?: KnownHostsMode;
  /** also generate `encryptedClientKey` with this passphrase (authorized too) */
  passphrase?: string;
  /** write IdentityFile <clientKey> + IdentitiesOnly in each Host block (default true) */
  identityInConfig?: boolean;
  /** also install the client key as ~/.ssh/id_ed25519 (default false) */
  defaultKey?: boolean;
  /** login user (default: TEST_LOGIN as root, else the current user) */
  user?: string;
}

export interface SshdServer {
  index: number;
  port: number;
  alias: string;
  /** `ssh-ed25519 AAAA...` */
  hostKeyPublic: string;
  /** as `ssh-keygen -l` prints it: `SHA256:...` */
  hostKeyFingerprint: string;
  /** for `changed` servers: the wrong key written to known_hosts, and its fingerprint */
  wrongKeyFingerprint?: string;
  dir: string;
  configFile: string;
  logFile: string;
  /** pid of the listening sshd */
  pid: number;
  running: boolean;
  log(): Promise<string>;
  /** occurrences of `text` in the log */
  count(text: string): Promise<number>;
  /** SIGTERM to sshd and its connection processes (and their commands); resolves once sshd is gone */
  stop(): Promise<void>;
  /** SIGKILL to sshd, its connection processes and their commands (connections drop at once) */
  kill(): Promise<void>;
  /** start again on the same port (after stop/kill) */
  start(): Promise<void>;
  /** SIGSTOP sshd and its connection processes: a link that is up but silent */
  freeze(): Promise<void>;
  /** SIGCONT after freeze() */
  thaw(): Promise<void>;
}

export interface SshdFixture {
  servers: SshdServer[];
  /** temp root (removed by stopAll) */
  dir: string;
  /** fake HOME: `.ssh/config`, `.ssh/known_hosts` */
  home: string;
  clientKey: string;
  clientKeyPublic: string;
  encryptedClientKey?: string;
  passphrase?: string;
  knownHosts: string;
  sshConfig: string;
  user: string;
  /** process.env.HOME = home, SSH_AUTH_SOCK removed; returns a function restoring both */
  useHome(): () => void;
  /** a ResolvedHost for server i; by default by alias, so ~/.ssh/config supplies the rest */
  resolvedHost(i: number, extra?: Partial<ResolvedHost>): ResolvedHost;
  /** a known_hosts line `[127.0.0.1]:port ssh-ed25519 AAAA...` for server i */
  knownHostsLine(i: number): string;
  stopAll(): Promise<void>;
}

/**
 * Who the suite logs in as. As root: the dedicated user TEST_LOGIN (made by test/global-setup.ts
 * or .ci/run) with a plain /bin/sh and an empty home, so nothing in root's shell start-up files
 * (a `pyenv init` in .bashrc, say) runs on every exec. It shares uid 0 with root so the suite's
 * temp directories stay writable without a chown in every test. Otherwise: the current user.
 */
export const TEST_LOGIN = 'ee-test';

function currentUser(): string {
  if (process.getuid?.() === 0) return TEST_LOGIN;
  try {
    return os.userInfo().username;
  } catch {
    return process.env.USER ?? 'root';
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function keygen(file: string, comment: string, passphrase = ''): Promise<{ pub: string; fingerprint: string }> {
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', comment, '-f', file]);
  const pub = (await readFile(`${file}.pub`, 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');
  const { stdout } = await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${file}.pub`]);
  const fingerprint = stdout.split(/\s+/)[1];
  return { pub, fingerprint };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** pid and every descendant (Linux /proc): sshd's per-connection processes call setsid(). */
async function processTree(pid: number): Promise<number[]> {
  const parent = new Map<number, number>();
  for (const name of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (rest.length > 1) parent.set(Number(name), Number(rest[1]));
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) for (const [child, pp] of parent) if (pp === out[i]) out.push(child);
  return out;
}

async function signalTree(pid: number, sig: NodeJS.Signals): Promise<void> {
  for (const p of await processTree(pid)) {
    try {
      process.kill(p, sig);
    } catch {
      /* gone */
    }
  }
}

/**
 * Commands started through a server outlive it when their connection closed first (they are
 * re-parented to init). They carry `SSH_CONNECTION=... 127.0.0.1 <port>` in their environment.
 */
async function killSessionsOf(port: number): Promise<void> {
  const suffix = ` 127.0.0.1 ${port}`;
  for (const name of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const env = await readFile(`/proc/${name}/environ`, 'latin1').catch(() => '');
    if (env.split('\0').some((v) => v.startsWith('SSH_CONNECTION=') && v.endsWith(suffix))) {
      try {
        process.kill(Number(name), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
}

interface ServerState {
  child?: ChildProcess;
  exited?: Promise<void>;
}

async function launch(configFile: string, logFile: string, state: ServerState): Promise<number> {
  await writeFile(logFile, '');
  const child = spawn(SSHD, ['-D', '-f', configFile, '-E', logFile], { detached: true, stdio: 'ignore' });
  state.child = child;
  state.exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.unref();
  const deadline = Date.now() + 10_000;
  for (;;) {
    const log = await readFile(logFile, 'utf8').catch(() => '');
    if (log.includes('Server listening')) return child.pid!;
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      await signalTree(child.pid!, 'SIGKILL');
      throw new Error(`sshd (${configFile}) did not start:\n${log}`);
    }
    await sleep(15);
  }
}

/** Start `count` private sshd servers and a fake HOME that knows them. */
export async function startSshd(opts: SshdOptions = {}): Promise<SshdFixture> {
  const count = opts.count ?? opts.servers?.length ?? 1;
  const user = opts.user ?? currentUser();
  const root = await mkdtemp(path.join(os.tmpdir(), 'ee-sshd-'));
  const home = path.join(root, 'home');
  const dotSsh = path.join(home, '.ssh');
  mkdirSync(dotSsh, { recursive: true, mode: 0o700 });
  // privilege-separation dir: Debian creates it only when its own sshd service starts
  try {
    if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  } catch {
    /* not root: sshd will say so in its log */
  }

  const clientKey = path.join(dotSsh, 'id_ee_test');
  const encryptedClientKey = opts.passphrase !== undefined ? path.join(dotSsh, 'id_ee_test_encrypted') : undefined;
  const serverOpts = Array.from({ length: count }, (_, i) => opts.servers?.[i] ?? {});
  const dirs = serverOpts.map((_, i) => path.join(root, `sshd${i}`));
  for (const d of dirs) mkdirSync(d, { recursive: true });

  const [client, encrypted, hostKeys, wrongKeys, ports] = await Promise.all([
    keygen(clientKey, 'ee-deploy-test'),
    encryptedClientKey ? keygen(encryptedClientKey, 'ee-deploy-test-encrypted', opts.passphrase) : Promise.resolve(undefined),
    Promise.all(dirs.map((d) => keygen(path.join(d, 'host_ed25519_key'), 'ee-deploy-test-host'))),
    Promise.all(
      serverOpts.map((o, i) =>
        (o.knownHosts ?? opts.knownHosts) === 'changed' ? keygen(path.join(dirs[i], 'wrong_host_key'), 'wrong') : Promise.resolve(undefined),
      ),
    ),
    Promise.all(serverOpts.map(() => freePort())),
  ]);
  if (opts.defaultKey) {
    await copyFile(clientKey, path.join(dotSsh, 'id_ed25519'));
    await copyFile(`${clientKey}.pub`, path.join(dotSsh, 'id_ed25519.pub'));
    await chmod(path.join(dotSsh, 'id_ed25519'), 0o600);
  }
  const authorizedKeys = path.join(root, 'authorized_keys');
  await writeFile(authorizedKeys, [client.pub, encrypted?.pub].filter(Boolean).join('\n') + '\n', { mode: 0o644 });

  const aliases = serverOpts.map((o, i) => o.alias ?? `sshd${i}`);

  // ~/.ssh/config
  const identity = opts.identityInConfig ?? true;
  const sshConfig = path.join(dotSsh, 'config');
  const blocks = serverOpts.map((o, i) =>
    [
      `Host ${aliases[i]}`,
      `  HostName 127.0.0.1`,
      `  Port ${ports[i]}`,
      `  User ${user}`,
      ...(identity ? [`  IdentityFile ${clientKey}`, `  IdentitiesOnly yes`] : []),
      ...(o.proxyJump !== undefined ? [`  ProxyJump ${aliases[o.proxyJump]}`] : []),
      ...(o.sshConfig ? o.sshConfig.split('\n').map((l) => `  ${l.trim()}`) : []),
    ].join('\n'),
  );
  await writeFile(sshConfig, blocks.join('\n\n') + '\n', { mode: 0o600 });

  // ~/.ssh/known_hosts (hashed lines are made by `ssh-keygen -H`, i.e. exactly OpenSSH's format)
  const knownHosts = path.join(dotSsh, 'known_hosts');
  const plain: string[] = [];
  const toHash: string[] = [];
  serverOpts.forEach((o, i) => {
    const mode = o.knownHosts ?? opts.knownHosts ?? 'plain';
    const name = `[127.0.0.1]:${ports[i]}`;
    if (mode === 'omit') return;
    if (mode === 'changed') plain.push(`${name} ${wrongKeys[i]!.pub}`);
    else if (mode === 'hashed') toHash.push(`${name} ${hostKeys[i].pub}`);
    else plain.push(`${name} ${hostKeys[i].pub}`);
  });
  let hashed: string[] = [];
  if (toHash.length) {
    const tmp = path.join(root, 'known_hosts.to-hash');
    await writeFile(tmp, toHash.join('\n') + '\n');
    await run('ssh-keygen', ['-H', '-f', tmp]);
    hashed = (await readFile(tmp, 'utf8')).split('\n').filter((l) => l.startsWith('|1|'));
  }
  await writeFile(knownHosts, [...plain, ...hashed].join('\n') + '\n', { mode: 0o600 });

  // sshd_config per server
  const configs = serverOpts.map((o, i) => {
    const d = dirs[i];
    const configFile = path.join(d, 'sshd_config');
    const text = [
      '# private test sshd: does not read /etc/ssh/sshd_config',
      // sshd uses the first value it reads: the test's own lines come first so they win
      ...(o.sshdConfig ? [o.sshdConfig] : []),
      'ListenAddress 127.0.0.1',
      `Port ${ports[i]}`,
      `HostKey ${path.join(d, 'host_ed25519_key')}`,
      `PidFile ${path.join(d, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      'StrictModes no',
      'UsePAM no',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      `AllowUsers ${user}`,
      'AllowTcpForwarding yes',
      'PrintMotd no',
      'PrintLastLog no',
      'UseDNS no',
      'MaxStartups 100:30:200',
      'MaxSessions 50',
      'LogLevel VERBOSE',
      'Subsystem sftp internal-sftp',
      '',
    ].join('\n');
    return { configFile, text, logFile: path.join(d, 'sshd.log') };
  });
  await Promise.all(configs.map((c) => writeFile(c.configFile, c.text)));

  const states: ServerState[] = serverOpts.map(() => ({}));
  const pids = await Promise.all(configs.map((c, i) => launch(c.configFile, c.logFile, states[i]))).catch(async (e) => {
    for (const s of states) if (s.child?.pid) await signalTree(s.child.pid, 'SIGKILL');
    await rm(root, { recursive: true, force: true });
    throw e;
  });

  const servers: SshdServer[] = serverOpts.map((_, i) => {
    const c = configs[i];
    const state = states[i];
    const halt = async (sig: NodeJS.Signals) => {
      const pid = server.pid;
      if (!server.running) return;
      await signalTree(pid, sig);
      await signalTree(pid, 'SIGCONT'); // in case it was frozen
      const t0 = Date.now();
      await Promise.race([state.exited, sleep(5000)]);
      while (alive(pid) && Date.now() - t0 < 5000) await sleep(10);
      await killSessionsOf(server.port);
      server.running = false;
    };
    const server: SshdServer = {
      index: i,
      port: ports[i],
      alias: aliases[i],
      hostKeyPublic: hostKeys[i].pub,
      hostKeyFingerprint: hostKeys[i].fingerprint,
      ...(wrongKeys[i] ? { wrongKeyFingerprint: wrongKeys[i]!.fingerprint } : {}),
      dir: dirs[i],
      configFile: c.configFile,
      logFile: c.logFile,
      pid: pids[i],
      running: true,
      log: () => readFile(c.logFile, 'utf8'),
      count: async (text) => (await readFile(c.logFile, 'utf8')).split(text).length - 1,
      stop: () => halt('SIGTERM'),
      kill: () => halt('SIGKILL'),
      freeze: () => signalTree(server.pid, 'SIGSTOP'),
      thaw: () => signalTree(server.pid, 'SIGCONT'),
      start: async () => {
        if (server.running) return;
        server.pid = await launch(c.configFile, c.logFile, state);
        server.running = true;
      },
    };
    return server;
  });

  const fixture: SshdFixture = {
    servers,
    dir: root,
    home,
    clientKey,
    clientKeyPublic: client.pub,
    ...(encryptedClientKey ? { encryptedClientKey, passphrase: opts.passphrase } : {}),
    knownHosts,
    sshConfig,
    user,
    useHome() {
      const saved = { HOME: process.env.HOME, SSH_AUTH_SOCK: process.env.SSH_AUTH_SOCK };
      process.env.HOME = home;
      delete process.env.SSH_AUTH_SOCK;
      return () => {
        for (const [k, v] of Object.entries(saved)) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      };
    },
    resolvedHost(i, extra = {}) {
      return { name: aliases[i], id: aliases[i], local: false, path: 'app', roles: [], tags: [], ...extra };
    },
    knownHostsLine(i) {
      return `[127.0.0.1]:${ports[i]} ${hostKeys[i].pub}`;
    },
    async stopAll() {
      await Promise.all(servers.map((s) => s.stop()));
      await rm(root, { recursive: true, force: true });
    },
  };
  return fixture;
}
