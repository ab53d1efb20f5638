/**
 * Open an SSH connection the way `ssh` would (SPEC section 5): resolve the host through
 * `~/.ssh/config`, go through ProxyJump hosts (each resolved and checked the same way, at most
 * three deep), refuse unknown, changed or revoked host keys before authenticating, then try the
 * agent, IdentityFile(s) and default keys. Every failure is a one-line ConnectionError /
 * HostKeyError (exit 3) naming `user@host:port`.
 */
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import type { Client as ClientType, ConnectConfig, ServerHostKeyAlgorithm } from 'ssh2';
import { ConnectionError, EeError, HostKeyError } from '../../errors.js';
import { describeNetworkError } from '../../util/net-errors.js';
import type { ResolvedHost } from '../../config/resolve.js';
import { AuthPlan, type PassphrasePrompt } from './auth.js';
import {
  checkHostKey,
  entriesFor,
  fingerprintSha256,
  formatKnownHostsLine,
  hashKnownHostsName,
  keyTypeOfBlob,
  lookupName,
  parseKnownHosts,
  preferredHostKeyAlgorithms,
  type KnownHostEntry,
} from './known-hosts.js';
import { homeDir, parseJumpSpec, resolveSshHost, type SshConfigSource, type SshHostOverrides, type SshHostSettings } from './ssh-config.js';
import { sshOverrides, takeEarly, type EarlySocket } from './predial.js';
import { SshTransport } from './ssh-transport.js';
import { Client } from './ssh2-lib.js';

export const MAX_JUMP_DEPTH = 3;
export const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;
export const DEFAULT_KEEPALIVE_INTERVAL_MS = 5_000;
export const DEFAULT_KEEPALIVE_COUNT_MAX = 3;

export interface ConnectSshOptions {
  /** may we prompt (passphrases)? true only when stdin is a TTY */
  interactive: boolean;
  /** TCP connect + handshake + auth, per hop; default ssh config ConnectTimeout, else 15 s */
  connectTimeoutMs?: number;
  /** replaces the enquirer prompt (tests, or a UI that must pause its spinner) */
  onPassphrasePrompt?: PassphrasePrompt;
  /** default ServerAliveInterval, else 5 s; 0 disables */
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  /** concurrent channels on the connection (default 8, below OpenSSH's MaxSessions 10) */
  maxChannels?: number;
  /** where ssh config comes from (default: $HOME/.ssh/config and /etc/ssh/ssh_config) */
  configSource?: SshConfigSource;
  /** ssh2 debug lines (`-v -v`) */
  debug?: (line: string) => void;
  /** a TCP connection to the host already on its way (predial.ts) */
  early?: EarlySocket;
}

/** `user@host:port`, plus the alias when it differs. */
export function hostLabel(s: Pick<SshHostSettings, 'user' | 'hostName' | 'port' | 'alias'>): string {
  const base = `${s.user}@${s.hostName}:${s.port}`;
  return s.alias.toLowerCase() !== s.hostName ? `${base} (${s.alias})` : base;
}

const SHORT_TYPE: Record<string, { display: string; scan: string }> = {
  'ssh-ed25519': { display: 'ED25519', scan: 'ed25519' },
  'ssh-rsa': { display: 'RSA', scan: 'rsa' },
  'ecdsa-sha2-nistp256': { display: 'ECDSA', scan: 'ecdsa' },
  'ecdsa-sha2-nistp384': { display: 'ECDSA', scan: 'ecdsa' },
  'ecdsa-sha2-nistp521': { display: 'ECDSA', scan: 'ecdsa' },
  'ssh-dss': { display: 'DSA', scan: 'dsa' },
};

function tilde(p: string, home: string): string {
  return home && (p === home || p.startsWith(home + path.sep)) ? `~${p.slice(home.length)}` : p;
}

/** Quote for a copy-pasteable shell line in a message. */
function sq(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./~-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

interface KnownHostsFiles {
  entries: KnownHostEntry[];
  userFile: string;
}

function readKnownHosts(s: SshHostSettings): KnownHostsFiles {
  const entries: KnownHostEntry[] = [];
  for (const file of [...s.userKnownHostsFiles, ...s.globalKnownHostsFiles]) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    entries.push(...parseKnownHosts(text, file));
  }
  return { entries, userFile: s.userKnownHostsFiles[0] ?? path.join(homeDir(), '.ssh', 'known_hosts') };
}

interface Hop {
  settings: SshHostSettings;
  /** the jump spec used to reach this hop, for `ssh -J` hints */
  via?: string;
}

function unknownHostMessage(hop: Hop, key: Buffer, otherTypes: string[], userFile: string, home: string): string {
  const s = hop.settings;
  const type = keyTypeOfBlob(key);
  const t = SHORT_TYPE[type] ?? { display: type, scan: type };
  const fp = fingerprintSha256(key);
  const file = sq(tilde(userFile, home));
  const portFlag = s.port === 22 ? '' : `-p ${s.port} `;
  const sshOnce = `ssh ${hop.via ? `-J ${sq(hop.via)} ` : ''}${portFlag}${sq(s.user)}@${sq(s.hostKeyAlias ? s.alias : s.hostName)}`;
  const trust =
    hop.via || s.hostKeyAlias
      ? `connect once with \`${sshOnce}\` and accept the key`
      : `run \`ssh-keyscan ${portFlag}-t ${t.scan} ${sq(s.hostName)} >> ${file}\` (or connect once with \`${sshOnce}\`)`;
  const other = otherTypes.length ? ` (known_hosts has only ${otherTypes.join(', ')} keys for it)` : '';
  return `host key of ${hostLabel(s)} is not known${other}: ${t.display} key ${fp}; if that is the server's key, ${trust}`;
}

function changedHostMessage(hop: Hop, key: Buffer, expected: KnownHostEntry[], home: string): string {
  const s = hop.settings;
  const fp = fingerprintSha256(key);
  const was = expected.map((e) => `${fingerprintSha256(e.key)} (${e.file ? tilde(e.file, home) : 'known_hosts'}:${e.line})`).join(', ');
  const name = lookupName({ host: s.hostName, port: s.port, ...(s.hostKeyAlias ? { hostKeyAlias: s.hostKeyAlias } : {}) });
  const file = expected[0]?.file ? ` -f ${sq(tilde(expected[0].file, home))}` : '';
  return (
    `host key of ${hostLabel(s)} has CHANGED (possible man-in-the-middle attack): server offers ${fp}, known_hosts has ${was}; ` +
    `if the change is expected, remove the old key with \`ssh-keygen${file} -R ${sq(name)}\``
  );
}

function appendKnownHost(file: string, name: string, key: Buffer, hashed: boolean): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const host = hashed ? hashKnownHostsName(name, randomBytes(20)) : name;
  appendFileSync(file, `${formatKnownHostsLine(host, key)}\n`, { mode: 0o600 });
}

/** why the TCP connection failed, in one line (util/net-errors.ts), with sshd's usual cause */
function socketReason(e: NodeJS.ErrnoException, s: SshHostSettings): string {
  const d = describeNetworkError(e, { host: s.hostName });
  return d.code === 'ECONNREFUSED' ? `${d.message} (is sshd running on that port?)` : d.message;
}

/** Is this ssh2 'error' one it recovers from by itself (it goes on to the next auth method)? */
function isAuthStepError(e: Error & { level?: string }): boolean {
  return e.level === 'agent' || /^Error while signing/.test(e.message);
}

/** One SSH handshake + auth, over `sock` (a jump channel) or TCP. */
function handshake(hop: Hop, opts: ConnectSshOptions, hostId: string, sock?: Duplex): Promise<ClientType> {
  const s = hop.settings;
  const home = homeDir();
  const label = hostLabel(s);
  const known = readKnownHosts(s);
  const nameQuery = { host: s.hostName, port: s.port, ...(s.hostKeyAlias ? { hostKeyAlias: s.hostKeyAlias } : {}) };
  const knownTypes = [...new Set(entriesFor(known.entries, nameQuery).map((e) => e.keyType))];
  const preferred = preferredHostKeyAlgorithms(knownTypes) as ServerHostKeyAlgorithm[];

  return new Promise<ClientType>((resolve, reject) => {
    const client = new Client();
    let done = false;
    let failure: EeError | undefined;
    let hostKeyChecked = false;
    let authFailure: string | undefined;
    const timeoutMs = opts.connectTimeoutMs ?? s.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    let remaining = timeoutMs;
    let startedAt = 0;
    const startTimer = () => {
      startedAt = Date.now();
      timer = setTimeout(() => {
        fail(new ConnectionError(`cannot connect to ${label}: timed out after ${Math.round(timeoutMs / 100) / 10}s${hostKeyChecked ? ' (during authentication)' : ''}`, { host: hostId }));
      }, remaining);
    };
    const pauseTimer = () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      remaining = Math.max(1000, remaining - (Date.now() - startedAt));
    };

    const plan = new AuthPlan({
      settings: s,
      interactive: opts.interactive,
      ...(opts.onPassphrasePrompt ? { onPassphrasePrompt: opts.onPassphrasePrompt } : {}),
      home,
      onPromptStart: pauseTimer,
      onPromptEnd: startTimer,
    });

    const fail = (e: EeError) => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      failure = e;
      client.removeAllListeners('ready');
      client.on('error', () => {});
      client.destroy();
      sock?.destroy();
      reject(e);
    };

    const verify = (key: Buffer, cb: (ok: boolean) => void) => {
      hostKeyChecked = true;
      const r = checkHostKey(known.entries, { ...nameQuery, key });
      switch (r.status) {
        case 'known':
          return cb(true);
        case 'revoked':
          failure = new HostKeyError(
            `host key of ${label} (${fingerprintSha256(key)}) is marked @revoked in ${r.entry.file ? tilde(r.entry.file, home) : 'known_hosts'}:${r.entry.line}; refusing to connect`,
            { host: hostId },
          );
          return cb(false);
        case 'changed':
          failure = new HostKeyError(changedHostMessage(hop, key, r.expected, home), { host: hostId });
          return cb(false);
        case 'unknown':
          if (s.strictHostKeyChecking === 'accept-new' || s.strictHostKeyChecking === 'no') {
            try {
              appendKnownHost(known.userFile, lookupName(nameQuery), key, s.hashKnownHosts);
            } catch (e) {
              failure = new HostKeyError(`cannot record the host key of ${label} in ${tilde(known.userFile, home)}: ${(e as Error).message}`, { host: hostId });
              return cb(false);
            }
            return cb(true);
          }
          failure = new HostKeyError(unknownHostMessage(hop, key, r.otherTypes, known.userFile, home), { host: hostId });
          return cb(false);
      }
    };

    client.on('ready', () => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      resolve(client); // the listeners stay: they ignore everything once done

    });
    client.on('error', (e: Error & { level?: string; code?: string }) => {
      if (done) return;
      if (failure) return fail(failure);
      if (isAuthStepError(e)) {
        plan.skipped.push(`ssh-agent (${e.message})`);
        return;
      }
      if (e.level === 'client-authentication') {
        authFailure = e.message;
        return fail(new ConnectionError(`cannot log in to ${label}: permission denied; ${plan.summary()}`, { cause: e, host: hostId }));
      }
      if (e.level === 'client-socket' || e.code) {
        return fail(new ConnectionError(`cannot connect to ${label}: ${socketReason(e as NodeJS.ErrnoException, s)}`, { cause: e, host: hostId }));
      }
      const reason = /before handshake/i.test(e.message) ? 'connection closed before the SSH handshake (is an SSH server listening there?)' : e.message;
      return fail(new ConnectionError(`cannot connect to ${label}: ${reason}`, { cause: e, host: hostId }));
    });
    client.on('close', () => {
      if (done) return;
      if (failure) return fail(failure);
      fail(
        new ConnectionError(
          `cannot connect to ${label}: connection closed by the remote host ${hostKeyChecked ? 'during authentication' : 'before the handshake'}${authFailure ? ` (${authFailure})` : ''}`,
          { host: hostId },
        ),
      );
    });

    const keepaliveInterval = s.serverAliveIntervalMs ?? opts.keepaliveIntervalMs ?? DEFAULT_KEEPALIVE_INTERVAL_MS;
    const config: ConnectConfig = {
      host: s.hostName,
      port: s.port,
      username: s.user,
      readyTimeout: 0, // our own timer, which pauses while a passphrase is typed
      keepaliveInterval,
      keepaliveCountMax: s.serverAliveCountMax ?? opts.keepaliveCountMax ?? DEFAULT_KEEPALIVE_COUNT_MAX,
      hostVerifier: verify,
      authHandler: plan.handler,
      algorithms: {
        // curve25519 first: fast everywhere; ssh2's defaults otherwise
        kex: { remove: 'curve25519-sha256', prepend: 'curve25519-sha256' } as unknown as NonNullable<ConnectConfig['algorithms']>['kex'],
        ...(preferred.length ? { serverHostKey: { remove: preferred, prepend: preferred } as unknown as NonNullable<ConnectConfig['algorithms']>['serverHostKey'] } : {}),
      },
      ...(sock ? { sock: sock as unknown as ConnectConfig['sock'] } : {}),
      ...(opts.debug ? { debug: opts.debug } : {}),
    };
    startTimer();
    try {
      client.connect(config);
      // every exec is a few small request/response packets: without TCP_NODELAY, Nagle's
      // algorithm meets the peer's delayed ACK and each round trip waits ~40 ms
      client.setNoDelay(true);
    } catch (e) {
      fail(new ConnectionError(`cannot connect to ${label}: ${(e as Error).message}`, { cause: e, host: hostId }));
    }
  });
}

function forwardOut(via: ClientType, viaLabel: string, target: SshHostSettings, hostId: string): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    try {
      via.forwardOut('127.0.0.1', 0, target.hostName, target.port, (err, stream) => {
        if (err) {
          const reason = (err as Error & { reason?: unknown }).reason;
          reject(
            new ConnectionError(
              `cannot reach ${hostLabel(target)} through jump host ${viaLabel}: ${err.message}${reason !== undefined && !err.message.includes(String(reason)) ? ` (${String(reason)})` : ''}`,
              { cause: err, host: hostId },
            ),
          );
          return;
        }
        resolve(stream as unknown as Duplex);
      });
    } catch (e) {
      reject(new ConnectionError(`cannot reach ${hostLabel(target)} through jump host ${viaLabel}: ${(e as Error).message}`, { cause: e, host: hostId }));
    }
  });
}

/**
 * Connect to `name` (with ee-deploy's overrides), through its jump hosts. Returns the clients,
 * outermost jump first, the target last.
 */
async function dial(name: string, overrides: SshHostOverrides, opts: ConnectSshOptions, hostId: string, depth: number): Promise<{ clients: ClientType[]; settings: SshHostSettings }> {
  // predial resolved the target's settings already (same name and overrides); it never opens
  // early connections to hosts behind a jump host
  const early = depth === 0 ? opts.early : undefined;
  const settings = early?.settings ?? resolveSshHost(name, overrides, opts.configSource ?? {});
  if (!settings.proxyJump) {
    const client = await handshake({ settings }, opts, hostId, takeEarly(early));
    return { clients: [client], settings };
  }
  if (depth >= MAX_JUMP_DEPTH) {
    throw new ConnectionError(`cannot connect to ${hostLabel(settings)}: more than ${MAX_JUMP_DEPTH} jump hosts (ProxyJump loop?)`, { host: hostId });
  }
  // `ssh -J a,b target`: reach b through a (b's own ProxyJump is replaced), then target through b
  const hops = parseJumpSpec(settings.proxyJump);
  const last = hops.pop()!;
  const rest = hops.map((h) => `${h.user ? `${h.user}@` : ''}${h.host.includes(':') ? `[${h.host}]` : h.host}${h.port ? `:${h.port}` : ''}`).join(',');
  const jump = await dial(
    last.host,
    { ...(last.user ? { user: last.user } : {}), ...(last.port ? { port: last.port } : {}), ...(rest ? { jump: rest } : {}) },
    opts,
    hostId,
    depth + 1,
  );
  const via = jump.clients[jump.clients.length - 1];
  try {
    const stream = await forwardOut(via, hostLabel(jump.settings), settings, hostId);
    const client = await handshake({ settings, via: settings.proxyJump }, opts, hostId, stream);
    return { clients: [...jump.clients, client], settings };
  } catch (e) {
    for (const c of [...jump.clients].reverse()) c.end();
    throw e;
  }
}

/**
 * Connect to a host from the config. The returned transport holds one connection (plus its jump
 * connections) for every exec until `close()`.
 */
export async function connectSsh(host: ResolvedHost, opts: ConnectSshOptions): Promise<SshTransport> {
  if (host.local) throw new ConnectionError(`host ${host.id} is local; it has no SSH connection`, { host: host.id });
  const { clients, settings } = await dial(host.name, sshOverrides(host), opts, host.id, 0).catch((e: unknown) => {
    opts.early?.socket.destroy(); // whatever failed, the early socket must not keep the process alive
    throw e;
  });
  const client = clients[clients.length - 1];
  return new SshTransport({
    host: host.id,
    label: hostLabel(settings),
    client,
    jumps: clients.slice(0, -1),
    ...(opts.maxChannels !== undefined ? { maxChannels: opts.maxChannels } : {}),
  });
}
