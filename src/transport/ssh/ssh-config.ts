/**
 * Step 1 of connecting (connect.ts): what `ssh` would use for a host, resolved once. Its settings
 * come from `~/.ssh/config` (then `/etc/ssh/ssh_config`), evaluated as OpenSSH does
 * (ssh-config-file.ts: Host, Match, Include, first value wins), then the explicit values from
 * ee-deploy.yaml on top; `resolveRoute` adds the jump hosts in front of it, each resolved the same
 * way. What each keyword does here is listed in ssh-keywords.ts; a value the built-in client
 * cannot follow stops with an error naming the keyword and its file:line.
 * `~` and `%d` follow `$HOME` read at call time (as OpenSSH does), so tests can point it elsewhere.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ResolvedHost } from '../../config/resolve.js';
import { ConfigError, ConnectionError } from '../../errors.js';
import type { AlgorithmSpec } from './algorithms.js';
import { evaluateConfig, type Obtained, type Options } from './ssh-config-file.js';
import { refusal } from './ssh-keywords.js';
import { expandEnv, expandTokens, localUser, TOKENS, type TokenContext } from './ssh-tokens.js';

export type StrictHostKeyChecking = 'yes' | 'no' | 'accept-new' | 'ask';

export interface SshHostSettings {
  /** the name asked for (a host name or a `Host` alias) */
  alias: string;
  /** where to connect (HostName, `%h` expanded), lower-cased like ssh does */
  hostName: string;
  user: string;
  port: number;
  /** absolute paths, in order: the explicit identity file, or every IdentityFile from ssh config */
  identityFiles: string[];
  identitiesOnly: boolean;
  /** CertificateFile values (absolute paths), in order */
  certificateFiles: string[];
  /** IdentityAgent: a socket path, `none`, or undefined for $SSH_AUTH_SOCK */
  identityAgent?: string;
  /** ProxyJump spec (`[user@]host[:port][,...]`), absent when none */
  proxyJump?: string;
  /** ProxyCommand with its tokens expanded, absent when none (never together with proxyJump) */
  proxyCommand?: string;
  userKnownHostsFiles: string[];
  globalKnownHostsFiles: string[];
  hostKeyAlias?: string;
  strictHostKeyChecking: StrictHostKeyChecking;
  hashKnownHosts: boolean;
  connectTimeoutMs?: number;
  /** ConnectionAttempts (default 1) */
  connectionAttempts?: number;
  serverAliveIntervalMs?: number;
  serverAliveCountMax?: number;
  /** AddressFamily inet / inet6 (any: absent) */
  addressFamily?: 'inet' | 'inet6';
  /** BindAddress: the local address to connect from */
  bindAddress?: string;
  /** BatchMode yes: never ask for a passphrase */
  batchMode: boolean;
  /** Compression yes */
  compression: boolean;
  /** ForwardAgent: the agent socket to forward to the host's commands */
  forwardAgent?: string;
  /** Ciphers, MACs, KexAlgorithms, HostKeyAlgorithms, PubkeyAcceptedAlgorithms as written (algorithms.ts) */
  algorithms: AlgorithmSpec[];
}

/** Values from ee-deploy.yaml: each one wins over ssh config. */
export interface SshHostOverrides {
  user?: string;
  port?: number;
  identityFile?: string;
  jump?: string;
}

export interface SshConfigSource {
  /** default: $HOME at call time */
  home?: string;
  /** default: `<home>/.ssh/config`; ignored when `userConfigText` is given */
  userConfigFile?: string;
  userConfigText?: string;
  /** default `/etc/ssh/ssh_config`; `null` to skip it */
  systemConfigFile?: string | null;
}

export function homeDir(): string {
  return process.env.HOME || os.homedir();
}

/** `/home/me/.ssh/x` -> `~/.ssh/x`, for messages */
export function tilde(p: string, home: string): string {
  return home && (p === home || p.startsWith(home + path.sep)) ? `~${p.slice(home.length)}` : p;
}

/** `~` and `~/x` follow $HOME (not `~otheruser`). */
export function expandTilde(p: string, home = homeDir()): string {
  if (p === '~') return home;
  if (p.startsWith('~/')) return path.join(home, p.slice(2));
  return p;
}


function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

const at = (o: Obtained) => `${o.file}:${o.line}`;

function yes(v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  return /^(yes|true|on)$/i.test(v);
}
function positiveInt(o: Obtained | undefined, what: string): number | undefined {
  const v = o?.args[0];
  if (v === undefined || /^none$/i.test(v)) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new ConfigError(`${what} "${v}" is not a number`, at(o!));
  return n;
}

/** Runs a `Match exec` command through the user's shell, as ssh does: exit status 0 = match. */
function runMatchExec(command: string): boolean {
  const r = spawnSync(process.env.SHELL || '/bin/sh', ['-c', command], { stdio: ['ignore', 'ignore', 'inherit'] });
  return r.status === 0;
}

function evaluate(name: string, user: string | undefined, source: SshConfigSource, home: string): Options {
  const userFile = source.userConfigFile ?? path.join(home, '.ssh', 'config');
  const files: { name: string; text: string; baseDir: string; system: boolean }[] = [];
  const userText = source.userConfigText ?? readText(userFile);
  if (userText !== undefined) {
    files.push({ name: source.userConfigText !== undefined ? 'ssh config' : tilde(userFile, home), text: userText, baseDir: path.join(home, '.ssh'), system: false });
  }
  const sys = source.systemConfigFile === undefined ? '/etc/ssh/ssh_config' : source.systemConfigFile;
  const sysText = sys ? readText(sys) : undefined;
  if (sys && sysText !== undefined) files.push({ name: sys, text: sysText, baseDir: path.dirname(sys), system: true });
  const local = localUser();
  return evaluateConfig(
    { files, home },
    {
      originalHost: name,
      localUser: local,
      ...(user !== undefined ? { user } : {}),
      exec: runMatchExec,
      expand: (command, sofar, where) => {
        const hn = sofar.get('hostname')?.[0]?.args[0];
        const host = (hn ? expandTokens(hn, { home, host: name, original: name, port: 22, remoteUser: local }, 'HostName', TOKENS.hostName) : name).toLowerCase();
        const portText = sofar.get('port')?.[0]?.args[0];
        const ctx: TokenContext = {
          home,
          host,
          original: name,
          port: portText && /^\d+$/.test(portText) ? Number(portText) : 22,
          remoteUser: user ?? sofar.get('user')?.[0]?.args[0] ?? local,
        };
        return expandTokens(command, ctx, 'Match exec', TOKENS.matchExec, where);
      },
    },
  );
}

const STRICT: Record<string, StrictHostKeyChecking> = {
  yes: 'yes',
  true: 'yes',
  on: 'yes',
  no: 'no',
  false: 'no',
  off: 'no',
  'accept-new': 'accept-new',
  ask: 'ask',
};

/** ProxyCommand or ProxyJump, whichever was obtained first (as in ssh); `none` disables both. */
function proxyOf(opts: Options, overrides: SshHostOverrides): { jump?: string; command?: Obtained } {
  if (overrides.jump !== undefined) return /^none$/i.test(overrides.jump.trim()) ? {} : { jump: overrides.jump.trim() };
  const pc = opts.get('proxycommand')?.[0];
  const pj = opts.get('proxyjump')?.[0];
  const firstOne = !pc ? pj : !pj ? pc : pc.seq < pj.seq ? pc : pj;
  if (!firstOne || /^none$/i.test(firstOne.raw.trim())) return {};
  if (firstOne === pj) return { jump: pj.raw.replace(/\s+#.*$/, '').trim() };
  return { command: pc };
}

/** Resolve one host the way `ssh <name>` would, with ee-deploy's explicit values on top. */
export function resolveSshHost(name: string, overrides: SshHostOverrides = {}, source: SshConfigSource = {}): SshHostSettings {
  const home = source.home ?? homeDir();
  const opts = evaluate(name, overrides.user, source, home);
  for (const [keyword, values] of opts) {
    const why = refusal(keyword, values[0]);
    if (why) throw new ConfigError(why, at(values[0]));
  }
  const one = (k: string) => opts.get(k)?.[0];
  const arg = (k: string) => one(k)?.args[0];
  const port = overrides.port ?? positiveInt(one('port'), 'Port') ?? 22;
  const user = overrides.user ?? arg('user') ?? localUser();
  const hostName0 = one('hostname');
  const hostName = (
    hostName0 ? expandTokens(hostName0.args[0], { home, host: name, original: name, port, remoteUser: user }, 'HostName', TOKENS.hostName, at(hostName0)) : name
  ).toLowerCase();
  const hostKeyAlias = arg('hostkeyalias');
  const proxy = proxyOf(opts, overrides);
  const ctx: TokenContext = {
    home,
    host: hostName,
    original: name,
    port,
    remoteUser: user,
    ...(hostKeyAlias ? { hostKeyAlias } : {}),
    ...(proxy.jump ? { jump: proxy.jump } : {}),
  };
  const pathValue = (p: string, keyword: string, o?: Obtained) => path.resolve(expandTilde(expandEnv(expandTokens(p, ctx, keyword, TOKENS.all, o && at(o)), keyword, o && at(o)), home));
  const paths = (k: string, keyword: string) => (opts.get(k) ?? []).flatMap((o) => o.args.map((a) => pathValue(a, keyword, o)));

  const identityFiles = overrides.identityFile !== undefined ? [pathValue(overrides.identityFile, 'identity_file')] : paths('identityfile', 'IdentityFile');
  const certificateFiles = paths('certificatefile', 'CertificateFile');
  const proxyCommand = proxy.command
    ? expandTokens(proxy.command.raw, { ...ctx, home }, 'ProxyCommand', TOKENS.proxyCommand, at(proxy.command))
    : undefined;

  const strictRaw = (arg('stricthostkeychecking') ?? 'yes').toLowerCase();
  const strict = STRICT[strictRaw];
  if (!strict) throw new ConfigError(`StrictHostKeyChecking "${strictRaw}" is not one of yes, no, accept-new, ask`, at(one('stricthostkeychecking')!));

  const userKnown = one('userknownhostsfile')?.args ?? [];
  const globalKnown = one('globalknownhostsfile')?.args ?? [];
  const connectTimeout = positiveInt(one('connecttimeout'), 'ConnectTimeout');
  const attempts = positiveInt(one('connectionattempts'), 'ConnectionAttempts');
  const aliveInterval = positiveInt(one('serveraliveinterval'), 'ServerAliveInterval');
  const aliveCount = positiveInt(one('serveralivecountmax'), 'ServerAliveCountMax');
  const agentSocket = (v: string | undefined, keyword: string): string | undefined => {
    if (v === undefined || /^\$?\{?SSH_AUTH_SOCK\}?$/.test(v)) return undefined;
    if (/^none$/i.test(v)) return 'none';
    const env = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(v);
    if (env) return process.env[env[1]] ? path.resolve(process.env[env[1]]!) : 'none';
    return pathValue(v, keyword, one(keyword.toLowerCase()));
  };
  const agent = agentSocket(arg('identityagent'), 'IdentityAgent');
  const family = (arg('addressfamily') ?? 'any').toLowerCase();
  if (!['any', 'inet', 'inet6'].includes(family)) throw new ConfigError(`AddressFamily "${family}" is not one of any, inet, inet6`, at(one('addressfamily')!));
  const bind = arg('bindaddress');
  const fwd = arg('forwardagent');
  let forwardAgent: string | undefined;
  if (fwd !== undefined && !/^(no|false)$/i.test(fwd)) {
    const sock = yes(fwd) ? (agent ?? process.env.SSH_AUTH_SOCK) : agentSocket(fwd, 'ForwardAgent');
    if (sock && sock !== 'none') forwardAgent = sock;
  }

  const algorithms: AlgorithmSpec[] = [];
  for (const k of ['KexAlgorithms', 'Ciphers', 'MACs', 'HostKeyAlgorithms', 'PubkeyAcceptedAlgorithms', 'PubkeyAcceptedKeyTypes']) {
    const o = one(k.toLowerCase());
    if (o?.args[0]) algorithms.push({ keyword: k, spec: o.args[0], at: at(o), system: o.system });
  }

  return {
    alias: name,
    hostName,
    user,
    port,
    identityFiles,
    identitiesOnly: yes(arg('identitiesonly')) ?? false,
    certificateFiles,
    ...(agent !== undefined ? { identityAgent: agent } : {}),
    ...(proxy.jump !== undefined ? { proxyJump: proxy.jump } : {}),
    ...(proxyCommand !== undefined ? { proxyCommand } : {}),
    userKnownHostsFiles: (userKnown.length ? userKnown : ['~/.ssh/known_hosts', '~/.ssh/known_hosts2']).filter((f) => f !== 'none').map((f) => pathValue(f, 'UserKnownHostsFile')),
    globalKnownHostsFiles: (globalKnown.length ? globalKnown : ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2']).filter((f) => f !== 'none').map((f) => pathValue(f, 'GlobalKnownHostsFile')),
    ...(hostKeyAlias ? { hostKeyAlias: hostKeyAlias.toLowerCase() } : {}),
    strictHostKeyChecking: strict,
    hashKnownHosts: yes(arg('hashknownhosts')) ?? false,
    ...(connectTimeout ? { connectTimeoutMs: connectTimeout * 1000 } : {}),
    ...(attempts && attempts > 1 ? { connectionAttempts: attempts } : {}),
    ...(aliveInterval !== undefined ? { serverAliveIntervalMs: aliveInterval * 1000 } : {}),
    ...(aliveCount !== undefined ? { serverAliveCountMax: aliveCount } : {}),
    ...(family !== 'any' ? { addressFamily: family as 'inet' | 'inet6' } : {}),
    ...(bind ? { bindAddress: bind } : {}),
    batchMode: yes(arg('batchmode')) ?? false,
    compression: yes(arg('compression')) ?? false,
    ...(forwardAgent ? { forwardAgent } : {}),
    algorithms,
  };
}

export interface JumpHop {
  user?: string;
  host: string;
  port?: number;
}

/** Parse a ProxyJump spec: `[user@]host[:port]` or `ssh://[user@]host[:port]`, comma separated. */
export function parseJumpSpec(spec: string): JumpHop[] {
  const hops: JumpHop[] = [];
  for (const part0 of spec.split(',')) {
    const part = part0.trim().replace(/^ssh:\/\//i, '').replace(/\/$/, '');
    if (!part) throw new ConfigError(`invalid jump host "${spec}"`);
    const at = part.lastIndexOf('@');
    const user = at >= 0 ? part.slice(0, at) : undefined;
    const rest = at >= 0 ? part.slice(at + 1) : part;
    let host: string;
    let portText: string | undefined;
    const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
    if (bracket) {
      host = bracket[1];
      portText = bracket[2];
    } else {
      const m = /^([^:]+)(?::(\d+))?$/.exec(rest);
      if (!m) throw new ConfigError(`invalid jump host "${part0.trim()}" (expected [user@]host[:port])`);
      host = m[1];
      portText = m[2];
    }
    if (!host || (user !== undefined && !user)) throw new ConfigError(`invalid jump host "${part0.trim()}" (expected [user@]host[:port])`);
    const port = portText !== undefined ? Number(portText) : undefined;
    if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) throw new ConfigError(`invalid port in jump host "${part0.trim()}"`);
    hops.push({ host, ...(user !== undefined ? { user } : {}), ...(port !== undefined ? { port } : {}) });
  }
  return hops;
}

function formatJump(h: JumpHop): string {
  return `${h.user ? `${h.user}@` : ''}${h.host.includes(':') ? `[${h.host}]` : h.host}${h.port ? `:${h.port}` : ''}`;
}

/** `user@host:port`, plus the alias when it differs. */
export function hostLabel(s: Pick<SshHostSettings, 'user' | 'hostName' | 'port' | 'alias'>): string {
  const base = `${s.user}@${s.hostName}:${s.port}`;
  return s.alias.toLowerCase() !== s.hostName ? `${base} (${s.alias})` : base;
}

/** ee-deploy's own settings for a host, which win over ~/.ssh/config */
export function sshOverrides(host: ResolvedHost): SshHostOverrides {
  return {
    ...(host.user !== undefined ? { user: host.user } : {}),
    ...(host.port !== undefined ? { port: host.port } : {}),
    ...(host.identityFile !== undefined ? { identityFile: host.identityFile } : {}),
    ...(host.jump !== undefined ? { jump: host.jump } : {}),
  };
}

export const MAX_JUMP_DEPTH = 3;

/** One SSH connection on the way to a host. */
export interface Hop {
  settings: SshHostSettings;
  /** the jump spec this hop is reached through (its ProxyJump), for `ssh -J` hints */
  via?: string;
}

/**
 * Every SSH connection needed to reach `host`, the outermost jump host first and the host itself
 * last. `ssh -J a,b target` reaches b through a (b's own ProxyJump is replaced by `a`), then
 * target through b; the outermost jump host's own ProxyJump is followed too, at most
 * MAX_JUMP_DEPTH jump hosts deep.
 */
export function resolveRoute(host: ResolvedHost, source: SshConfigSource = {}): Hop[] {
  const route: Hop[] = [];
  let name = host.name;
  let overrides = sshOverrides(host);
  for (let depth = 0; ; depth++) {
    const settings = resolveSshHost(name, overrides, source);
    route.unshift(settings.proxyJump ? { settings, via: settings.proxyJump } : { settings });
    if (!settings.proxyJump) return route;
    if (depth >= MAX_JUMP_DEPTH) {
      throw new ConnectionError(`cannot connect to ${hostLabel(settings)}: more than ${MAX_JUMP_DEPTH} jump hosts (ProxyJump loop?)`, { host: host.id });
    }
    const hops = parseJumpSpec(settings.proxyJump);
    const last = hops.pop()!;
    const rest = hops.map(formatJump).join(',');
    name = last.host;
    overrides = { ...(last.user ? { user: last.user } : {}), ...(last.port ? { port: last.port } : {}), ...(rest ? { jump: rest } : {}) };
  }
}
