/**
 * ~/.ssh/config as OpenSSH reads it, against real OpenSSH servers (test/helpers/sshd.ts) and a
 * real ssh-agent: ProxyCommand and its tokens, ProxyJump chains and which of the two wins,
 * HostKeyAlias with hashed known_hosts, CertificateFile, the agent's key order, the public half of
 * an encrypted key, Include + Match, and keywords refused by name.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, ConnectionError, ExitCode, HostKeyError } from '../../src/errors.js';
import { Cmd } from '../../src/remote/shell.js';
import { clearKeyCache, connectSsh, resolveSshHost, type SshTransport } from '../../src/transport/ssh/index.js';
import { openTransport } from '../../src/transport/open.js';
import { cli, newProject, releases, server } from '../helpers/deploy-env.js';
import { startSshd, type SshdFixture } from '../helpers/sshd.js';

const run = promisify(execFile);
const c = (text: string) => new Cmd(text, text);

const BASTION = 0;
const BASTION2 = 1;
const TARGET = 2;
const CERT = 3; // trusts the test CA
const ALIASED = 4; // known only under a HostKeyAlias, hashed
const OLD_CRYPTO = 5; // offers only a cipher the built-in client does not offer by default
const LATE = 6; // stopped, started again while a client is retrying

let f: SshdFixture;
let restoreHome: () => void;
let work: string;
let caPub: string;
let relayLog: string;
const opened: SshTransport[] = [];
const agents: ChildProcess[] = [];

async function keygen(file: string, passphrase = ''): Promise<string> {
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', path.basename(file), '-f', file]);
  return readFileSync(`${file}.pub`, 'utf8').trim();
}

async function startAgent(name: string): Promise<string> {
  const sock = path.join(work, `${name}.sock`);
  const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
  agents.push(agent);
  for (let i = 0; i < 300 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 10));
  return sock;
}

async function agentAdd(sock: string, ...files: string[]): Promise<void> {
  for (const file of files) await run('ssh-add', ['-q', file], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
}

async function open(alias: string): Promise<SshTransport> {
  const t = await connectSsh({ name: alias, id: alias, local: false, path: 'x', roles: [], tags: [] }, { interactive: false, connectTimeoutMs: 8000 });
  opened.push(t);
  return t;
}

async function failure(p: Promise<unknown>): Promise<Error & { exitCode?: number }> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err as Error,
  );
  expect(e).toBeInstanceOf(Error);
  return e!;
}

/** a Host block logging in to server i with the fixture's key; `extra` lines come first, so they win */
function block(name: string, i: number, extra: string[] = [], hostName = '127.0.0.1'): string {
  return [`Host ${name}`, ...extra.map((l) => `  ${l}`), `  HostName ${hostName}`, `  Port ${f.servers[i].port}`, `  User ${f.user}`, `  IdentityFile ${f.clientKey}`, `  IdentitiesOnly yes`].join('\n');
}

beforeAll(async () => {
  work = await import('node:fs/promises').then((fs) => fs.mkdtemp(path.join(os.tmpdir(), 'ee-sshfid-')));
  await keygen(path.join(work, 'ca'));
  caPub = path.join(work, 'ca.pub');
  f = await startSshd({
    passphrase: 'agent only',
    servers: [server('bastion'), server('bastion2'), server('target'), server('certhost', { sshdConfig: `TrustedUserCAKeys ${caPub}` }), server('aliased', { knownHosts: 'omit' }), server('oldcrypto', { sshdConfig: 'Ciphers aes256-cbc' }), server('late')],
  });
  restoreHome = f.useHome();
  relayLog = path.join(work, 'relay.log');
  // a ProxyCommand that logs the tokens it got and relays to 127.0.0.1:<port>: the HostName it is
  // given does not resolve, so only the proxy can have made the connection
  const relay = path.join(work, 'relay.mjs');
  writeFileSync(
    relay,
    `import net from 'node:net'; import fs from 'node:fs';
const [log, host, port, user, orig] = process.argv.slice(2);
fs.appendFileSync(log, JSON.stringify({ host, port, user, orig }) + '\\n');
const s = net.connect({ host: '127.0.0.1', port: Number(port) });
process.stdin.pipe(s); s.pipe(process.stdout);
s.on('close', () => process.exit(0)); s.on('error', (e) => { console.error('relay: ' + e.message); process.exit(1); });
`,
  );
  const relayCmd = `${process.execPath} ${relay} ${relayLog} %h %p %r %n`;
  const sshW = `ssh -F ${f.sshConfig} -o BatchMode=yes -o UserKnownHostsFile=${f.knownHosts} -W %h:%p bastion`;
  // HostKeyAlias: the aliased server is known only as `web-alias`, in a hashed known_hosts file
  const aliasKnown = path.join(work, 'known_hosts_alias');
  writeFileSync(aliasKnown, `web-alias ${f.servers[ALIASED].hostKeyPublic}\n`);
  await run('ssh-keygen', ['-q', '-H', '-f', aliasKnown]);
  // the relayed host is known under its HostName, as ssh checks it with a ProxyCommand
  appendFileSync(f.knownHosts, `[target.invalid]:${f.servers[TARGET].port} ${f.servers[TARGET].hostKeyPublic}\n`);
  appendFileSync(f.knownHosts, `[bastion.invalid]:${f.servers[BASTION].port} ${f.servers[BASTION].hostKeyPublic}\n`);

  const blocks = [
    block('relayed', TARGET, [`ProxyCommand ${relayCmd}`], 'Target.Invalid'),
    block('via-ssh-w', TARGET, [`ProxyCommand ${sshW}`]),
    block('proxy-fails', TARGET, [`ProxyCommand sh -c 'echo "relay: no route to gateway" >&2; exit 7'`], 'target.invalid'),
    block('proxy-none', TARGET, ['ProxyCommand none']),
    block('jump-first', TARGET, ['ProxyJump bastion']),
    block('command-first', TARGET, [`ProxyCommand ${relayCmd}`], 'target.invalid'),
    'Host jump-first command-first proxy-none\n  ProxyCommand sh -c "exit 9"\n  ProxyJump nowhere.invalid',
    block('chain', TARGET, ['ProxyJump bastion,bastion2']),
    block('cmd-bastion', BASTION, [`ProxyCommand ${relayCmd}`], 'bastion.invalid'),
    block('behind-cmd-bastion', TARGET, ['ProxyJump cmd-bastion']),
    block('by-alias', ALIASED, ['HostKeyAlias web-alias', `UserKnownHostsFile ${aliasKnown}`]),
    block('by-wrong-alias', ALIASED, ['HostKeyAlias other-alias', `UserKnownHostsFile ${aliasKnown}`]),
    block('fdpass', TARGET, ['ProxyUseFdpass yes']),
    block('old-default', OLD_CRYPTO),
    block('attempts', LATE, ['ConnectionAttempts 4']),
    block('one-attempt', LATE),
    block('old-plus-cbc', OLD_CRYPTO, ['Ciphers +aes256-cbc', 'HostKeyAlgorithms +ssh-rsa', 'PubkeyAcceptedAlgorithms +ssh-rsa']),
    block('pq-only', TARGET, ['KexAlgorithms sntrup761x25519-sha512@openssh.com']),
  ];
  const base = readFileSync(f.sshConfig, 'utf8');
  writeFileSync(f.sshConfig, `Include conf.d/*.conf\n\n${base}\n${blocks.join('\n\n')}\n`);
  mkdirSync(path.join(f.home, '.ssh', 'conf.d'));
  writeFileSync(
    path.join(f.home, '.ssh', 'conf.d', '50-match.conf'),
    [
      'Host match-* !match-excluded',
      `  User ${f.user}`,
      `  IdentityFile ${f.clientKey}`,
      `Match originalhost count-me exec "echo ran >> ${work}/exec-count"`,
      '  HostName 127.0.0.1',
      `  Port ${f.servers[TARGET].port}`,
      `  User ${f.user}`,
      `  IdentityFile ${f.clientKey}`,
      `Match originalhost match-* !user ${f.user}`,
      `  Port 1`,
      `Match originalhost match-* exec "test -e ${work}/flag.%n"`,
      '  HostName 127.0.0.1',
      `  Port ${f.servers[TARGET].port}`,
      '',
    ].join('\n'),
  );
});

afterEach(() => clearKeyCache());

afterAll(async () => {
  await Promise.all(opened.map((t) => t.close()));
  for (const a of agents) a.kill();
  restoreHome?.();
  await f?.stopAll();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** pids of running relay commands */
async function relayProcesses(): Promise<number[]> {
  const { readdir, readFile } = await import('node:fs/promises');
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmd = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(`${work}/relay.mjs`)) out.push(Number(name));
  }
  return out;
}

const relayed = () => (existsSync(relayLog) ? readFileSync(relayLog, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, string>) : []);

describe('ProxyCommand', () => {
  it('runs through the shell with %h %p %r %n, and its stdio is the connection (HostName does not resolve)', async () => {
    const before = relayed().length;
    const t = await open('relayed');
    expect((await t.exec(c('echo via-proxy'))).stdout).toBe('via-proxy\n');
    expect(relayed().slice(before)).toEqual([{ host: 'target.invalid', port: String(f.servers[TARGET].port), user: f.user, orig: 'relayed' }]);
    expect(await relayProcesses()).toHaveLength(1);
    await t.close();
    // closing the connection ends the command
    for (let i = 0; i < 100 && (await relayProcesses()).length; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await relayProcesses()).toEqual([]);
  });

  it('`ssh -W %h:%p bastion` through a second sshd', async () => {
    const logins = await f.servers[BASTION].count('Accepted publickey');
    const t = await open('via-ssh-w');
    expect((await t.exec(c('echo through-bastion'))).stdout).toBe('through-bastion\n');
    // the bastion logged the ssh -W login that carried the connection
    expect(await f.servers[BASTION].count('Accepted publickey')).toBe(logins + 1);
    await t.close();
  });

  it('a failing ProxyCommand: exit 3, one line with its status and last stderr line', async () => {
    const e = await failure(open('proxy-fails'));
    expect(e).toBeInstanceOf(ConnectionError);
    expect(e.exitCode).toBe(ExitCode.connection);
    expect(e.message).toBe(`cannot connect to ${f.user}@target.invalid:${f.servers[TARGET].port} (proxy-fails): ProxyCommand exited with status 7: relay: no route to gateway`);
  });

  it('ProxyCommand none, first obtained, disables a later ProxyCommand and ProxyJump: direct', async () => {
    const t = await open('proxy-none');
    expect((await t.exec(c('echo direct'))).stdout).toBe('direct\n');
  });
});

describe('ProxyJump', () => {
  it('a ProxyJump obtained first wins over a later ProxyCommand', async () => {
    const logins = await f.servers[BASTION].count('Accepted publickey');
    const t = await open('jump-first');
    expect((await t.exec(c('echo jumped'))).stdout).toBe('jumped\n');
    expect(await f.servers[BASTION].count('Accepted publickey')).toBe(logins + 1);
  });

  it('a ProxyCommand obtained first wins over a later ProxyJump', async () => {
    const before = relayed().length;
    const t = await open('command-first');
    expect((await t.exec(c('echo relayed'))).stdout).toBe('relayed\n');
    expect(relayed().slice(before)).toHaveLength(1);
  });

  it('a jump host that is itself reached through a ProxyCommand', async () => {
    const before = relayed().length;
    const logins = await f.servers[BASTION].count('Accepted publickey');
    const t = await open('behind-cmd-bastion');
    expect((await t.exec(c('echo two-ways'))).stdout).toBe('two-ways\n');
    expect(relayed().slice(before)).toEqual([{ host: 'bastion.invalid', port: String(f.servers[BASTION].port), user: f.user, orig: 'cmd-bastion' }]);
    expect(await f.servers[BASTION].count('Accepted publickey')).toBe(logins + 1);
  });

  it('a chain of two jump hosts', async () => {
    const [b1, b2] = await Promise.all([f.servers[BASTION].count('Accepted publickey'), f.servers[BASTION2].count('Accepted publickey')]);
    const t = await open('chain');
    expect((await t.exec(c('echo chained'))).stdout).toBe('chained\n');
    expect(await f.servers[BASTION].count('Accepted publickey')).toBe(b1 + 1);
    expect(await f.servers[BASTION2].count('Accepted publickey')).toBe(b2 + 1);
  });
});

describe('host keys', () => {
  it('HostKeyAlias: the key is looked up under the alias, in a hashed known_hosts', async () => {
    expect(readFileSync(path.join(work, 'known_hosts_alias'), 'utf8')).toMatch(/^\|1\|/);
    const t = await open('by-alias');
    expect((await t.exec(c('echo aliased'))).stdout).toBe('aliased\n');
    const e = await failure(open('by-wrong-alias'));
    expect(e).toBeInstanceOf(HostKeyError);
    expect(e.message).toContain(f.servers[ALIASED].hostKeyFingerprint);
  });
});

describe('keys', () => {
  it('CertificateFile and <IdentityFile>-cert.pub: user certificates (ed25519, RSA) signed by the CA sshd trusts log in (key file or agent)', async () => {
    const key = path.join(work, 'certkey');
    await keygen(key);
    await run('ssh-keygen', ['-q', '-s', path.join(work, 'ca'), '-I', 'ee-test-cert', '-n', f.user, '-V', '-5m:+1h', `${key}.pub`]);
    // the key is not in authorized_keys: only the certificate can log in
    appendFileSync(f.sshConfig, `\n${block('cert-file', CERT, [`CertificateFile ${key}-cert.pub`]).replace(f.clientKey, key)}\n`);
    const t = await open('cert-file');
    expect((await t.exec(c('echo cert'))).stdout).toBe('cert\n');
    expect(await f.servers[CERT].log()).toMatch(/Accepted publickey for \S+ .* ED25519-CERT SHA256:\S+ ID ee-test-cert/);
    // the same certificate with its private key held by ssh-agent only
    const sock = await startAgent('cert');
    await agentAdd(sock, key);
    const keyless = `${block('cert-agent', CERT, [`CertificateFile ${key}-cert.pub`, `IdentityAgent ${sock}`])}`.replace(`  IdentityFile ${f.clientKey}\n`, '');
    appendFileSync(f.sshConfig, `\n${keyless}\n`);
    const before = await f.servers[CERT].count('ED25519-CERT');
    const t2 = await open('cert-agent');
    expect((await t2.exec(c('echo cert-agent'))).stdout).toBe('cert-agent\n');
    expect(await f.servers[CERT].count('ED25519-CERT')).toBe(before + 1);
    // an RSA certificate found beside its IdentityFile (`<file>-cert.pub`), signed with SHA-512
    const rsa = path.join(work, 'certrsa');
    await run('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-f', rsa]);
    await run('ssh-keygen', ['-q', '-s', path.join(work, 'ca'), '-I', 'ee-test-rsa', '-n', f.user, `${rsa}.pub`]);
    appendFileSync(f.sshConfig, `\n${block('cert-rsa', CERT).replace(f.clientKey, rsa)}\n`);
    const t3 = await open('cert-rsa');
    expect((await t3.exec(c('echo rsa-cert'))).stdout).toBe('rsa-cert\n');
    expect(await f.servers[CERT].log()).toMatch(/Accepted publickey for \S+ .* RSA-CERT SHA256:\S+ ID ee-test-rsa/);
  });

  it('agent with 7 other keys: the one matching IdentityFile is offered first (MaxAuthTries 6)', async () => {
    const sock = await startAgent('many');
    const others = await Promise.all(Array.from({ length: 7 }, (_, i) => path.join(work, `other${i}`)).map(async (k) => (await keygen(k), k)));
    await agentAdd(sock, ...others, f.clientKey);
    appendFileSync(f.sshConfig, `\n${block('crowded', TARGET, ['IdentitiesOnly no', `IdentityAgent ${sock}`])}\n`);
    const t = await open('crowded');
    expect((await t.exec(c('echo first-try'))).stdout).toBe('first-try\n');
  });

  it('an encrypted key with no .pub, loaded in the agent, IdentitiesOnly yes: logs in through the agent', async () => {
    const key = path.join(work, 'enc-nopub');
    const pub = await keygen(key);
    appendFileSync(path.join(f.dir, 'authorized_keys'), `${pub}\n`);
    const sock = await startAgent('enc');
    await agentAdd(sock, key);
    await run('ssh-keygen', ['-q', '-p', '-P', '', '-N', 'not typed', '-f', key]);
    rmSync(`${key}.pub`);
    expect(readFileSync(key, 'utf8')).toContain('BEGIN OPENSSH PRIVATE KEY');
    appendFileSync(f.sshConfig, `\n${block('enc-agent', TARGET, [`IdentityAgent ${sock}`]).replace(f.clientKey, key)}\n`);
    const t = await open('enc-agent');
    expect((await t.exec(c('echo unlocked-by-agent'))).stdout).toBe('unlocked-by-agent\n');
  });
});

describe('Include and Match', () => {
  it('Match originalhost + exec (with %n) from an included file; Host negation', async () => {
    // no flag: the Match does not apply, and `match-a` itself does not resolve
    const e = await failure(open('match-a'));
    expect(e).toBeInstanceOf(ConnectionError);
    expect(e.message).toMatch(/^cannot connect to \S+@match-a:22/);
    writeFileSync(path.join(work, 'flag.match-a'), '');
    const t = await open('match-a');
    expect((await t.exec(c('echo matched'))).stdout).toBe('matched\n');
    // `!match-excluded` vetoes the block with User: the local user is used, so `Match !user` applies
    writeFileSync(path.join(work, 'flag.match-excluded'), '');
    const e2 = await failure(open('match-excluded'));
    expect(e2.message).toMatch(new RegExp(`^cannot connect to ${os.userInfo().username}@127\\.0\\.0\\.1:1 `));
  });
});

describe('ConnectionAttempts', () => {
  it('a refused TCP connection is tried again a second later', async () => {
    const late = f.servers[LATE];
    await late.stop();
    const once = await failure(open('one-attempt'));
    expect(once.message).toMatch(/connection refused/);
    const t0 = Date.now();
    const starting = new Promise((r) => setTimeout(r, 1200)).then(() => late.start());
    const t = await open('attempts');
    await starting;
    expect((await t.exec(c('echo second-attempt'))).stdout).toBe('second-attempt\n');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
  });
});

describe('algorithm lists', () => {
  it('Ciphers +aes256-cbc reaches a server that offers only that; an algorithm ssh2 lacks is refused by name', async () => {
    const e = await failure(open('old-default'));
    expect(e).toBeInstanceOf(ConnectionError);
    expect(e.message).toMatch(/cipher/i);
    const t = await open('old-plus-cbc');
    expect((await t.exec(c('echo cbc'))).stdout).toBe('cbc\n');
    const pq = await failure(open('pq-only'));
    expect(pq).toBeInstanceOf(ConfigError);
    expect(pq.message).toMatch(/^~\/\.ssh\/config:\d+: KexAlgorithms: the built-in SSH client does not implement sntrup761x25519-sha512@openssh\.com; use `ssh_client: openssh`/);
  });
});

describe('Match exec', () => {
  it('runs once per connection (the route found before dialling is the one used)', async () => {
    const t = await openTransport({ name: 'count-me', id: 'count-me', local: false, path: 'x', roles: [], tags: [] }, { interactive: false });
    try {
      expect((await t.exec(c('echo counted'))).stdout).toBe('counted\n');
    } finally {
      await t.close();
    }
    expect(readFileSync(path.join(work, 'exec-count'), 'utf8')).toBe('ran\n');
  });
});

describe('refused keywords', () => {
  it('connect: a ConfigError naming the keyword and its ~/.ssh/config line', async () => {
    const lines = readFileSync(f.sshConfig, 'utf8').split('\n');
    const n = lines.findIndex((l) => l.trim() === 'ProxyUseFdpass yes') + 1;
    const e = await failure(open('fdpass'));
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toBe(`~/.ssh/config:${n}: ProxyUseFdpass yes is not supported by the built-in SSH client; use \`ssh_client: openssh\` (the system ssh) for this host`);
  });
});

describe('the same answers as `ssh -G`', () => {
  // OpenSSH itself evaluates a config full of Host/Match/Include subtleties; ours must agree
  it('Host negation, Match host/originalhost/user/localuser/exec/all/final, Include, first value wins, ProxyJump vs ProxyCommand', async () => {
    const dir = path.join(work, 'g');
    mkdirSync(path.join(dir, 'inc'), { recursive: true });
    const me = os.userInfo().username;
    writeFileSync(path.join(dir, 'inc', 'a.conf'), 'Host inc-*\n  Port 2001\n  User from-include\nHost inc-b\n  HostKeyAlias inc-b-key\n');
    writeFileSync(path.join(dir, 'inc', 'b.conf'), 'Match originalhost inc-b\n  ProxyJump gw1\n');
    writeFileSync(path.join(dir, 'flag.web2'), '');
    const cfg = path.join(dir, 'config');
    writeFileSync(
      cfg,
      [
        'IgnoreUnknown UseKeychain',
        'UseKeychain yes',
        `Include ${dir}/inc/*.conf`,
        'Host web* !web3',
        '  User web-user',
        '  IdentityFile /keys/web',
        'Host web1',
        '  HostName web1.internal',
        '  ProxyCommand nc %h %p',
        '  ProxyJump ignored-because-second',
        'Match host *.internal',
        '  Port 2222',
        '  IdentitiesOnly yes',
        `Match originalhost web2 exec "test -e ${dir}/flag.%n"`,
        '  HostName 10.0.0.2',
        '  ProxyJump gw2,gw3',
        'Match user deploy',
        '  Port 2022',
        `Match localuser ${me} !originalhost db*`,
        '  IdentityFile /keys/local',
        'Host db*',
        '  ProxyCommand none',
        '  ProxyJump never',
        'Match final host 10.0.0.2',
        '  HostKeyAlias final-alias',
        'Match all',
        '  User everyone',
        '  Port 2200',
        '',
      ].join('\n'),
    );
    const ours = (host: string, user?: string) => {
      const s = resolveSshHost(host, user ? { user } : {}, { home: f.home, userConfigFile: cfg, systemConfigFile: null });
      return {
        hostname: s.hostName,
        user: s.user,
        port: String(s.port),
        // no IdentityFile: each side's own default keys (ssh also lists ones the built-in client cannot use)
        identityfile: s.identityFiles.length ? s.identityFiles : 'defaults',
        identitiesonly: s.identitiesOnly ? 'yes' : 'no',
        proxyjump: s.proxyJump,
        proxycommand: s.proxyCommand !== undefined ? 'set' : undefined,
        hostkeyalias: s.hostKeyAlias,
      };
    };
    const theirs = async (host: string, user?: string) => {
      const { stdout } = await run('ssh', ['-G', '-F', cfg, ...(user ? ['-l', user] : []), host]);
      const g = new Map<string, string[]>();
      for (const line of stdout.split('\n')) {
        const m = /^(\S+) (.*)$/.exec(line);
        if (m) g.set(m[1].toLowerCase(), [...(g.get(m[1].toLowerCase()) ?? []), m[2]]);
      }
      const pc = g.get('proxycommand')?.[0];
      return {
        hostname: g.get('hostname')?.[0],
        user: g.get('user')?.[0],
        port: g.get('port')?.[0],
        identityfile: g.get('identityfile')?.every((k) => k.startsWith('~/.ssh/id_')) ? 'defaults' : g.get('identityfile'),
        identitiesonly: g.get('identitiesonly')?.[0],
        proxyjump: g.get('proxyjump')?.[0],
        proxycommand: pc && pc !== 'none' ? 'set' : undefined,
        hostkeyalias: g.get('hostkeyalias')?.[0],
      };
    };
    for (const [host, user] of [['web1'], ['web2'], ['web3'], ['web4'], ['web3', 'deploy'], ['inc-a'], ['inc-b'], ['db1'], ['other', 'deploy'], ['web1', 'deploy'], ['WEB1']] as [string, string?][]) {
      expect({ host, asUser: user, ...ours(host, user) }).toEqual({ host, asUser: user, ...(await theirs(host, user)) });
    }
  });
});

describe('the CLI', () => {
  it('deploys through the ProxyCommand; a refused keyword exits 2 with one line', async () => {
    const root = path.join(work, 'deployed');
    const before = relayed().length;
    const p = newProject({ hosts: [{ host: 'relayed', path: root }] });
    const r = await cli(f.home, p.dir, ['deploy']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(releases(root)).toHaveLength(1);
    expect(relayed().length).toBeGreaterThan(before);
    p.write({ hosts: [{ host: 'fdpass', path: root }] });
    const bad = await cli(f.home, p.dir, ['deploy']);
    expect(bad.code).toBe(ExitCode.usage);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/^error: .*ProxyUseFdpass yes is not supported by the built-in SSH client; use `ssh_client: openssh`/);
  });
});
