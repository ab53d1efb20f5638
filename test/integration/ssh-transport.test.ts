/**
 * SshTransport against real OpenSSH servers (test/helpers/sshd.ts); no mocks of SSH.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionError, ExitCode, HostKeyError } from '../../src/errors.js';
import { Cmd } from '../../src/remote/shell.js';
import { clearKeyCache, connectSsh, type SshTransport } from '../../src/transport/ssh/index.js';
import { predial } from '../../src/transport/ssh/predial.js';
import { freePort, startSshd, type SshdFixture } from '../helpers/sshd.js';

const c = (text: string) => new Cmd(text, text);
const PASSPHRASE = 'correct horse battery';

// server roles
const MAIN = 0;
const TARGET = 1; // reached through MAIN with `jump`
const VIA_CONFIG = 2; // ProxyJump sshd0 in ~/.ssh/config
const UNKNOWN = 3;
const CHANGED = 4;
const HASHED = 5;
const VICTIM = 6; // killed mid-command
const FROZEN = 7; // SIGSTOPped: keepalive must notice
const ACCEPT_NEW = 8; // StrictHostKeyChecking accept-new, own known_hosts file
const LIMITED = 9; // MaxSessions 3

let f: SshdFixture;
let restoreHome: () => void;
let main: SshTransport;
const opened: SshTransport[] = [];

async function open(i: number, extra: Parameters<SshdFixture['resolvedHost']>[1] = {}, interactive = false): Promise<SshTransport> {
  const t = await connectSsh(f.resolvedHost(i, extra), { interactive, connectTimeoutMs: 5000 });
  opened.push(t);
  return t;
}

async function connectError(p: Promise<unknown>): Promise<ConnectionError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ConnectionError);
  return e as ConnectionError;
}

beforeAll(async () => {
  f = await startSshd({
    passphrase: PASSPHRASE,
    servers: [
      { alias: 'main' },
      { alias: 'target' },
      { alias: 'via-config', proxyJump: MAIN },
      { alias: 'unknown', knownHosts: 'omit' },
      { alias: 'changed', knownHosts: 'changed' },
      { alias: 'hashed', knownHosts: 'hashed' },
      { alias: 'victim' },
      { alias: 'frozen' },
      { alias: 'accept-new', knownHosts: 'omit', sshConfig: 'StrictHostKeyChecking accept-new\nUserKnownHostsFile ~/.ssh/known_hosts_accept_new' },
      { alias: 'limited', sshdConfig: 'MaxSessions 3' },
    ],
  });
  restoreHome = f.useHome();
  main = await open(MAIN);
});

afterEach(() => clearKeyCache());

afterAll(async () => {
  await Promise.all(opened.map((t) => t.close()));
  restoreHome?.();
  await f?.stopAll();
});

describe('exec', () => {
  it('returns stdout, stderr and the exit code', async () => {
    const r = await main.exec(c('echo hello; echo oops >&2'));
    expect(r).toEqual({ code: 0, stdout: 'hello\n', stderr: 'oops\n' });
    expect(main.isLocal).toBe(false);
    expect(main.host).toBe('main');
    expect(main.label).toBe(`${f.user}@127.0.0.1:${f.servers[MAIN].port} (main)`);
  });

  it('resolves (never rejects) on a non-zero exit code', async () => {
    const r = await main.exec(c("printf 'partial'; exit 7"));
    expect(r.code).toBe(7);
    expect(r.stdout).toBe('partial');
  });

  it('streams output to onStdout/onStderr as it comes', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const r = await main.exec(c('for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 0.05; done'), {
      onStdout: (s) => out.push(s),
      onStderr: (s) => err.push(s),
    });
    expect(out.join('')).toBe(r.stdout);
    expect(err.join('')).toBe('err1\nerr2\nerr3\n');
    expect(out.length).toBeGreaterThan(1);
  });

  it('streams a few MB of stdin (Buffer) and the remote checksum matches', async () => {
    const data = randomBytes(4 * 1024 * 1024 + 123);
    const r = await main.exec(c('sha256sum'), { stdin: data });
    expect(r.code).toBe(0);
    expect(r.stdout.split(' ')[0]).toBe(createHash('sha256').update(data).digest('hex'));
  });

  it('streams a Readable with backpressure and always ends stdin', async () => {
    const chunks = Array.from({ length: 48 }, () => randomBytes(64 * 1024));
    const hash = createHash('sha256');
    for (const ch of chunks) hash.update(ch);
    const r = await main.exec(c('sha256sum'), { stdin: Readable.from(chunks) });
    expect(r.stdout.split(' ')[0]).toBe(hash.digest('hex'));
    // no stdin given: `cat` must still see EOF
    expect(await main.exec(c('cat; echo eof'))).toMatchObject({ code: 0, stdout: 'eof\n' });
  });

  it('does not hang when the command ignores a large stdin', async () => {
    const r = await main.exec(c('exit 3'), { stdin: randomBytes(8 * 1024 * 1024) });
    expect(r.code).toBe(3);
  });

  it('timeoutMs kills the command and resolves with timedOut', async () => {
    // the timeout runs from the exec call, so it includes opening the channel and starting the
    // remote shell: 2 s leaves room for that on a loaded machine, and is still far from the 20 s
    // the command would take if the timeout did not stop it
    const TIMEOUT = 2000;
    const t0 = Date.now();
    const r = await main.exec(c('echo started; sleep 20; echo never'), { timeoutMs: TIMEOUT });
    const elapsed = Date.now() - t0;
    expect(r.timedOut).toBe(true);
    expect(r.code).toBeNull();
    // the output from before the kill is kept
    expect(r.stdout).toBe('started\n');
    // ended by the timer (not before it) and promptly after it: not by the end of `sleep 20`
    expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT - 5);
    expect(elapsed).toBeLessThan(TIMEOUT + 8000);
    // the connection is still usable
    expect((await main.exec(c('echo still here'))).stdout).toBe('still here\n');
  });

  it('an AbortSignal stops the command', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    const t0 = Date.now();
    const r = await main.exec(c('sleep 20'), { signal: ac.signal });
    expect(r.code).toBeNull();
    // stopped by the abort, not by the end of `sleep 20` (generous: a loaded machine)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(195);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('runs 20 concurrent execs over one connection (one login in the sshd log)', async () => {
    const before = await f.servers[HASHED].count('Accepted publickey');
    const t = await open(HASHED); // hashed known_hosts entry accepted
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => t.exec(c(`sleep 0.2; echo ${i}`))));
    expect(results.map((r) => r.stdout)).toEqual(Array.from({ length: 20 }, (_, i) => `${i}\n`));
    expect(results.every((r) => r.code === 0)).toBe(true);
    expect((await f.servers[HASHED].count('Accepted publickey')) - before).toBe(1);
    expect(await f.servers[HASHED].count('Starting session')).toBeGreaterThanOrEqual(20);
  });

  it('adapts to a server that allows fewer sessions (MaxSessions 3) and queues the rest', async () => {
    const t = await open(LIMITED);
    const input = randomBytes(256 * 1024);
    const sum = createHash('sha256').update(input).digest('hex');
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => t.exec(c(`sha256sum; echo ${i}`), { stdin: Readable.from([input.subarray(0, 1000), input.subarray(1000)]) })),
    );
    expect(results.map((r) => r.stdout)).toEqual(Array.from({ length: 12 }, (_, i) => `${sum}  -\n${i}\n`));
    expect(t.channelLimit).toBeLessThanOrEqual(3);
  });

  it('rejects exec after close()', async () => {
    const t = await open(MAIN);
    await t.close();
    await connectError(t.exec(c('true')));
  });
});

describe('host keys', () => {
  it('refuses an unknown host with its SHA256 fingerprint and the command to trust it, before any session', async () => {
    const s = f.servers[UNKNOWN];
    const e = await connectError(open(UNKNOWN));
    expect(e).toBeInstanceOf(HostKeyError);
    expect(e.exitCode).toBe(ExitCode.connection);
    expect(e.message).toContain(s.hostKeyFingerprint); // as ssh-keygen -l prints it
    expect(e.message).toContain(`ssh-keyscan -p ${s.port} -t ed25519 127.0.0.1 >> ~/.ssh/known_hosts`);
    expect(e.message).not.toContain('\n');
    const log = await s.log();
    expect(log).not.toContain('Accepted publickey');
    expect(log).not.toContain('Starting session');
  });

  it('refuses a changed host key, naming both fingerprints', async () => {
    const s = f.servers[CHANGED];
    const e = await connectError(open(CHANGED));
    expect(e).toBeInstanceOf(HostKeyError);
    expect(e.message).toContain('CHANGED');
    expect(e.message).toContain('man-in-the-middle');
    expect(e.message).toContain(s.hostKeyFingerprint);
    expect(e.message).toContain(s.wrongKeyFingerprint!);
    expect(await s.count('Starting session')).toBe(0);
  });

  it('StrictHostKeyChecking accept-new records an unknown key, then checks it', async () => {
    const file = path.join(f.home, '.ssh', 'known_hosts_accept_new');
    const t = await open(ACCEPT_NEW);
    expect((await t.exec(c('echo new'))).stdout).toBe('new\n');
    // OpenSSH itself finds it (hashed when ssh config says HashKnownHosts yes, as Debian's does)
    const found = execFileSync('ssh-keygen', ['-F', `[127.0.0.1]:${f.servers[ACCEPT_NEW].port}`, '-f', file], { encoding: 'utf8' });
    expect(found).toContain(f.servers[ACCEPT_NEW].hostKeyPublic);
    const again = await open(ACCEPT_NEW);
    expect((await again.exec(c('echo again'))).stdout).toBe('again\n');
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(1);
  });

  it('accepts a hashed known_hosts entry', async () => {
    const t = await open(HASHED);
    expect((await t.exec(c('echo ok'))).stdout).toBe('ok\n');
  });
});

describe('config and auth', () => {
  it('resolves an alias from ~/.ssh/config (HostName, Port, User, IdentityFile)', async () => {
    // sshd sets LOGNAME to the account it logged in (the test user shares uid 0 with root, so
    // `id -un` would print root); AllowUsers in the fixture admits only f.user anyway
    expect((await main.exec(c('echo "$LOGNAME"'))).stdout.trim()).toBe(f.user);
  });

  it('explicit host/port/user work without any ssh config entry', async () => {
    const t = await open(MAIN, { name: '127.0.0.1', id: 'by-ip', port: f.servers[MAIN].port, user: f.user, identityFile: f.clientKey });
    expect((await t.exec(c('echo ip'))).stdout).toBe('ip\n');
  });

  it('an encrypted key off a TTY is skipped with the reason in the ConnectionError', async () => {
    const e = await connectError(open(MAIN, { identityFile: f.encryptedClientKey! }));
    expect(e).not.toBeInstanceOf(HostKeyError);
    expect(e.exitCode).toBe(ExitCode.connection);
    expect(e.message).toContain(`${f.user}@127.0.0.1:${f.servers[MAIN].port}`);
    expect(e.message).toMatch(/permission denied/);
    expect(e.message).toMatch(/id_ee_test_encrypted \(encrypted, and there is no terminal/);
  });

  it('an encrypted key on a TTY asks for the passphrase', async () => {
    const asked: string[] = [];
    const t = await connectSsh(f.resolvedHost(MAIN, { identityFile: f.encryptedClientKey! }), {
      interactive: true,
      connectTimeoutMs: 5000,
      onPassphrasePrompt: async (file, attempt) => {
        asked.push(file);
        return attempt === 1 ? 'wrong passphrase' : PASSPHRASE;
      },
    });
    opened.push(t);
    expect(asked).toEqual([f.encryptedClientKey, f.encryptedClientKey]);
    expect((await t.exec(c('echo unlocked'))).stdout).toBe('unlocked\n');
  });

  it('connection refused is a quick ConnectionError naming user@host:port', async () => {
    const port = await freePort();
    const t0 = Date.now();
    const e = await connectError(connectSsh({ name: '127.0.0.1', id: 'nobody', local: false, port, user: 'deploy', path: 'x', roles: [], tags: [] }, { interactive: false }));
    expect(e.message).toBe(`cannot connect to deploy@127.0.0.1:${port}: connection refused (is sshd running on that port?)`);
    expect(e.exitCode).toBe(ExitCode.connection);
    // at once, not after the 15 s connect timeout (generous: a loaded machine)
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('logs in with a key held by ssh-agent', async () => {
    const sock = path.join(f.dir, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 200 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 10));
      await new Promise<void>((resolve, reject) =>
        spawn('ssh-add', ['-q', f.clientKey], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' }).on('exit', (code) =>
          code === 0 ? resolve() : reject(new Error(`ssh-add: ${code}`)),
        ),
      );
      process.env.SSH_AUTH_SOCK = sock;
      // no ssh config entry and no key files: only the agent can log in
      const t = await open(MAIN, { name: '127.0.0.1', id: 'agent', port: f.servers[MAIN].port, user: f.user });
      expect((await t.exec(c('echo agent'))).stdout).toBe('agent\n');
      await t.close();
      // IdentitiesOnly + a different IdentityFile: the agent's key is not offered
      const e = await connectError(open(MAIN, { identityFile: f.encryptedClientKey! }));
      expect(e.message).toMatch(/skipped ssh-agent \(no key matching IdentityFile, and IdentitiesOnly yes\)/);
      expect(e.message).not.toMatch(/tried ssh-agent/);
    } finally {
      delete process.env.SSH_AUTH_SOCK;
      agent.kill();
    }
  });

  it('a server that never answers times out with a ConnectionError', async () => {
    const silent = net.createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const t0 = Date.now();
      const e = await connectError(
        connectSsh({ name: '127.0.0.1', id: 'silent', local: false, port, user: 'u', path: 'x', roles: [], tags: [] }, { interactive: false, connectTimeoutMs: 400 }),
      );
      expect(e.message).toBe(`cannot connect to u@127.0.0.1:${port}: timed out after 0.4s`);
      // the 0.4 s given, not the 15 s default (generous: a loaded machine)
      expect(Date.now() - t0).toBeGreaterThanOrEqual(395);
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      silent.close();
    }
  });

  it('an unknown host name is a ConnectionError', async () => {
    const e = await connectError(connectSsh({ name: 'no-such-host.invalid', id: 'x', local: false, user: 'u', path: 'x', roles: [], tags: [] }, { interactive: false, connectTimeoutMs: 5000 }));
    expect(e.message).toMatch(/^cannot connect to u@no-such-host\.invalid:22: /);
  });
});

describe('jump hosts', () => {
  it('a TCP connection opened early (before ssh2 loads) is the one used: one connection, one login', async () => {
    const s = f.servers[MAIN];
    const [conns, logins] = [await s.count('Connection from'), await s.count('Accepted publickey')];
    const host = f.resolvedHost(MAIN);
    const early = predial(host);
    expect(early).toBeDefined();
    const t = await connectSsh(host, { interactive: false, connectTimeoutMs: 5000, early });
    opened.push(t);
    expect((await t.exec(c('echo early'))).stdout).toBe('early\n');
    expect((await s.count('Connection from')) - conns).toBe(1);
    expect((await s.count('Accepted publickey')) - logins).toBe(1);
    // no socket for a host behind a jump host (its route is handed on), nothing for a local one
    const jumped = predial(f.resolvedHost(TARGET, { jump: 'main' }));
    expect(jumped?.socket).toBeUndefined();
    expect(jumped?.route.map((h) => h.settings.alias)).toEqual(['main', 'target']);
    expect(predial({ ...host, local: true })).toBeUndefined();
  });

  it('an early connection that was refused is dropped: the error reads exactly as without it', async () => {
    const port = await freePort();
    const host = { name: '127.0.0.1', id: 'nobody', local: false, port, user: 'deploy', path: 'x', roles: [], tags: [] };
    const early = predial(host);
    await new Promise((r) => setTimeout(r, 100)); // refused by now
    expect(early!.failed).toBe(true);
    const e = await connectError(connectSsh(host, { interactive: false, early }));
    expect(e.message).toBe(`cannot connect to deploy@127.0.0.1:${port}: connection refused (is sshd running on that port?)`);
    expect(early!.socket!.destroyed).toBe(true);
  });

  it('reaches a server through another with `jump`', async () => {
    const before = await f.servers[MAIN].count('Accepted publickey');
    const t = await open(TARGET, { jump: 'main' });
    expect((await t.exec(c('echo through'))).stdout).toBe('through\n');
    expect((await f.servers[MAIN].count('Accepted publickey')) - before).toBe(1);
    expect(await f.servers[TARGET].count('Accepted publickey')).toBe(1);
    await t.close();
  });

  it('follows ProxyJump from ~/.ssh/config', async () => {
    const t = await open(VIA_CONFIG);
    expect((await t.exec(c('echo via config'))).stdout).toBe('via config\n');
  });

  it('checks the target host key through the jump too', async () => {
    const e = await connectError(open(UNKNOWN, { jump: 'main' }));
    expect(e).toBeInstanceOf(HostKeyError);
    expect(e.message).toContain(f.servers[UNKNOWN].hostKeyFingerprint);
    expect(e.message).toContain('ssh -J main');
  });

  it('stops after three jump hosts', async () => {
    const e = await connectError(open(TARGET, { jump: 'main,main,main,main' }));
    expect(e.message).toMatch(/more than 3 jump hosts/);
  });
});

describe('dropped connection', () => {
  it('sshd killed mid-command rejects with a ConnectionError naming the host', async () => {
    const t = await open(VICTIM);
    const outcome = connectError(t.exec(c('echo begun; sleep 3; echo finished')));
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    await f.servers[VICTIM].kill();
    const e = await outcome;
    // noticed from the closed connection, not by keepalive (5 s x 3 by default)
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(e.message).toContain(`127.0.0.1:${f.servers[VICTIM].port}`);
    expect(e.message).toMatch(/lost/);
    expect(e.host).toBe('victim');
    // later execs fail fast too
    await connectError(t.exec(c('true')));
  });

  it('a silent link is noticed by keepalive', async () => {
    const t = await connectSsh(f.resolvedHost(FROZEN), { interactive: false, keepaliveIntervalMs: 200, keepaliveCountMax: 2 });
    opened.push(t);
    const outcome = connectError(t.exec(c('sleep 10')));
    await new Promise((r) => setTimeout(r, 200));
    await f.servers[FROZEN].freeze();
    try {
      const t0 = Date.now();
      const e = await outcome;
      expect(e.message).toMatch(/lost/);
      // by the 200 ms x 2 keepalive asked for, not the default 5 s x 3 (generous: a loaded machine)
      expect(Date.now() - t0).toBeLessThan(6000);
    } finally {
      await f.servers[FROZEN].thaw();
    }
  });
});
