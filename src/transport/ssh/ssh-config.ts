/**
 * Step 1 of connecting (connect.ts): what `ssh` would use for a host, resolved once. Its settings
 * come from `~/.ssh/config` (then `/etc/ssh/ssh_config`) computed with the `ssh-config` package,
 * first value wins, then the explicit values from ee-deploy.yaml on top; `resolveRoute` adds the
 * jump hosts in front of it, each resolved the same way.
 * `~` and `%d` follow `$HOME` read at call time (as OpenSSH does), so tests can point it elsewhere.
 *
 * Supported: HostName, User, Port, IdentityFile (repeatable), IdentitiesOnly, IdentityAgent,
 * ProxyJump, UserKnownHostsFile, GlobalKnownHostsFile, HostKeyAlias, StrictHostKeyChecking,
 * HashKnownHosts, ConnectTimeout, ServerAliveInterval, ServerAliveCountMax, Include (inlined;
 * `*`/`?` in the last path component). `Match exec` is not evaluated (never runs commands).
 */
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SSHConfig from 'ssh-config';
import type { ResolvedHost } from '../../config/resolve.js';
import { ConfigError, ConnectionError } from '../../errors.js';

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
  /** IdentityAgent: a socket path, `none`, or undefined for $SSH_AUTH_SOCK */
  identityAgent?: string;
  /** ProxyJump spec (`[user@]host[:port][,...]`), absent when none */
  proxyJump?: string;
  userKnownHostsFiles: string[];
  globalKnownHostsFiles: string[];
  hostKeyAlias?: string;
  strictHostKeyChecking: StrictHostKeyChecking;
  hashKnownHosts: boolean;
  connectTimeoutMs?: number;
  serverAliveIntervalMs?: number;
  serverAliveCountMax?: number;
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

function localUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env.USER || process.env.LOGNAME || 'root';
  }
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

interface TokenContext {
  home: string;
  host: string;
  original: string;
  port: number;
  remoteUser: string;
}

/** ssh_config TOKENS: %% %d %h %n %p %r %u %i %l %L. */
export function expandTokens(value: string, ctx: TokenContext): string {
  return value.replace(/%(.)/g, (all, t: string) => {
    switch (t) {
      case '%':
        return '%';
      case 'd':
        return ctx.home;
      case 'h':
        return ctx.host;
      case 'n':
        return ctx.original;
      case 'p':
        return String(ctx.port);
      case 'r':
        return ctx.remoteUser;
      case 'u':
        return localUser();
      case 'i':
        return String(process.getuid?.() ?? 0);
      case 'l':
        return os.hostname();
      case 'L':
        return os.hostname().split('.')[0];
      default:
        return all;
    }
  });
}

function globLast(pattern: string): string[] {
  const dir = path.dirname(pattern);
  const base = path.basename(pattern);
  if (!/[*?]/.test(base)) return [pattern];
  const re = new RegExp(`^${base.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  try {
    return readdirSync(dir)
      .filter((f) => re.test(f) && !f.startsWith('.'))
      .sort()
      .map((f) => path.join(dir, f));
  } catch {
    return [];
  }
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

const SECTION = /^\s*(host|match)(\s|=)/i;
const INCLUDE = /^\s*include(?:\s+|\s*=\s*)(.+?)\s*$/i;

/**
 * Inline `Include` directives. Inside a Host block the block's header is repeated after the
 * included text, so the rest of the block keeps applying to the same hosts; at top level, what
 * follows an include that opened sections applies to every host again (`Host *`).
 */
export function inlineIncludes(text: string, baseDir: string, home: string, depth = 0): string {
  if (depth > 16) throw new ConfigError('ssh config: Include nested too deeply');
  const out: string[] = [];
  let header: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    const inc = INCLUDE.exec(line);
    if (!inc) {
      if (SECTION.test(line)) header = line.trim();
      out.push(line);
      continue;
    }
    let opened = false;
    for (const word of inc[1].match(/"[^"]*"|\S+/g) ?? []) {
      const p0 = expandTilde(word.replace(/^"|"$/g, ''), home);
      const p = path.isAbsolute(p0) ? p0 : path.join(baseDir, p0);
      for (const file of globLast(p)) {
        const sub = readText(file);
        if (sub === undefined) continue;
        const expanded = inlineIncludes(sub, baseDir, home, depth + 1);
        if (expanded.split(/\r?\n/).some((l) => SECTION.test(l))) opened = true;
        out.push(expanded);
      }
    }
    if (opened) out.push(header ?? 'Host *');
  }
  return out.join('\n');
}

type Computed = Record<string, string | string[]>;

function first(v: string | string[] | undefined): string | undefined {
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v[0] : v;
}
function all(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : v.split(/\s+/).filter(Boolean);
}
function yes(v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  return /^(yes|true|on)$/i.test(v);
}
function positiveInt(v: string | undefined, what: string, file: string): number | undefined {
  if (v === undefined || /^none$/i.test(v)) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new ConfigError(`${what} "${v}" is not a number`, file);
  return n;
}

function loadConfigText(source: SshConfigSource, home: string): { text: string; file: string } {
  const userFile = source.userConfigFile ?? path.join(home, '.ssh', 'config');
  const userText = source.userConfigText ?? readText(userFile) ?? '';
  let text = inlineIncludes(userText, path.join(home, '.ssh'), home);
  const sys = source.systemConfigFile === undefined ? '/etc/ssh/ssh_config' : source.systemConfigFile;
  if (sys) {
    const sysText = readText(sys);
    // system-wide values come after the user's: the user's first value wins, as in ssh
    if (sysText !== undefined) text += `\nHost *\n${inlineIncludes(sysText, path.dirname(sys), home)}`;
  }
  return { text, file: source.userConfigText !== undefined ? 'ssh config' : userFile };
}

function compute(name: string, user: string | undefined, source: SshConfigSource, home: string): { c: Computed; file: string } {
  const { text, file } = loadConfigText(source, home);
  let parsed: SSHConfig;
  try {
    parsed = SSHConfig.parse(text);
  } catch (e) {
    throw new ConfigError(`cannot parse ssh config: ${(e as Error).message}`, file);
  }
  const c = parsed.compute(user !== undefined ? { Host: name, User: user } : { Host: name }, { ignoreCase: true, matchExec: false });
  return { c, file };
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

/** Resolve one host the way `ssh <name>` would, with ee-deploy's explicit values on top. */
export function resolveSshHost(name: string, overrides: SshHostOverrides = {}, source: SshConfigSource = {}): SshHostSettings {
  const home = source.home ?? homeDir();
  const { c, file } = compute(name, overrides.user, source, home);
  const port = overrides.port ?? positiveInt(first(c.port), 'Port', file) ?? 22;
  const user = overrides.user ?? first(c.user) ?? localUser();
  const hostName0 = first(c.hostname);
  const hostName = (hostName0 ? expandTokens(hostName0, { home, host: name, original: name, port, remoteUser: user }) : name).toLowerCase();
  const ctx: TokenContext = { home, host: hostName, original: name, port, remoteUser: user };
  const pathValue = (p: string) => {
    const expanded = expandTilde(expandTokens(p, ctx), home);
    return path.resolve(expanded);
  };

  const identityFiles = overrides.identityFile !== undefined ? [pathValue(overrides.identityFile)] : all(c.identityfile).map(pathValue);

  let proxyJump = overrides.jump ?? first(c.proxyjump);
  if (proxyJump !== undefined && /^none$/i.test(proxyJump.trim())) proxyJump = undefined;

  const strictRaw = (first(c.stricthostkeychecking) ?? 'yes').toLowerCase();
  const strict = STRICT[strictRaw];
  if (!strict) throw new ConfigError(`StrictHostKeyChecking "${strictRaw}" is not one of yes, no, accept-new, ask`, file);

  const userKnown = all(c.userknownhostsfile);
  const globalKnown = all(c.globalknownhostsfile);
  const connectTimeout = positiveInt(first(c.connecttimeout), 'ConnectTimeout', file);
  const aliveInterval = positiveInt(first(c.serveraliveinterval), 'ServerAliveInterval', file);
  const aliveCount = positiveInt(first(c.serveralivecountmax), 'ServerAliveCountMax', file);
  const identityAgent = first(c.identityagent);
  let agent: string | undefined;
  if (identityAgent === undefined || /^\$?\{?SSH_AUTH_SOCK\}?$/.test(identityAgent)) agent = undefined;
  else if (/^none$/i.test(identityAgent)) agent = 'none';
  else agent = pathValue(identityAgent.replace(/\$\{(\w+)\}/g, (_m, n: string) => process.env[n] ?? ''));
  const hostKeyAlias = first(c.hostkeyalias);

  return {
    alias: name,
    hostName,
    user,
    port,
    identityFiles,
    identitiesOnly: yes(first(c.identitiesonly)) ?? false,
    ...(agent !== undefined ? { identityAgent: agent } : {}),
    ...(proxyJump !== undefined ? { proxyJump: proxyJump.trim() } : {}),
    userKnownHostsFiles: (userKnown.length ? userKnown : ['~/.ssh/known_hosts', '~/.ssh/known_hosts2']).filter((f) => f !== 'none').map(pathValue),
    globalKnownHostsFiles: (globalKnown.length ? globalKnown : ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2']).filter((f) => f !== 'none').map(pathValue),
    ...(hostKeyAlias ? { hostKeyAlias: hostKeyAlias.toLowerCase() } : {}),
    strictHostKeyChecking: strict,
    hashKnownHosts: yes(first(c.hashknownhosts)) ?? false,
    ...(connectTimeout ? { connectTimeoutMs: connectTimeout * 1000 } : {}),
    ...(aliveInterval !== undefined ? { serverAliveIntervalMs: aliveInterval * 1000 } : {}),
    ...(aliveCount !== undefined ? { serverAliveCountMax: aliveCount } : {}),
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
