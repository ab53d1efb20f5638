/**
 * Open an SSH connection the way `ssh` would, in one straight line (connectSsh, at the end):
 *   1. resolve the host's settings once: ~/.ssh/config and its jump hosts (ssh-config.ts)
 *   2. dial: take the TCP connection opened early (predial.ts), or let ssh2 dial; a host behind
 *      jump hosts is reached through a channel of the previous hop's connection, one with a
 *      ProxyCommand through that command's stdin/stdout (proxy-command.ts)
 *   3. handshake, refusing unknown, changed or revoked host keys (host-key.ts)
 *   4. authenticate: agent, IdentityFile(s), default keys (auth.ts)
 *   5. the transport over the target's connection (ssh-transport.ts)
 * Every failure is a one-line ConnectionError / HostKeyError (exit 3) naming `user@host:port`.
 */
import type { Signer } from './signer.js';
import type { Duplex } from 'node:stream';
import type { Client as ClientType, ConnectConfig, ServerHostKeyAlgorithm } from 'ssh2';
import { ConnectionError, EeError } from '../../errors.js';
import { describeNetworkError } from '../../util/net-errors.js';
import { sleep } from '../../util/sleep.js';
import type { ResolvedHost } from '../../config/resolve.js';
import { AuthPlan, type PassphrasePrompt } from './auth.js';
import { hostKeyCheck } from './host-key.js';
import { homeDir, hostLabel, resolveRoute, type Hop, type SshConfigSource, type SshHostSettings } from './ssh-config.js';
import { takeEarly, type EarlySocket } from './predial.js';
import { ProxyCommandStream } from './proxy-command.js';
import { algorithmChoice } from './algorithms.js';

type Algorithms = NonNullable<ConnectConfig['algorithms']>;

/** errors of a TCP connection that could not be made (ConnectionAttempts tries again) */
const dialFailures = new WeakSet<object>();
import { SshTransport } from './ssh-transport.js';
import { Client } from './ssh2-lib.js';

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

/** why the TCP connection failed, in one line (util/net-errors.ts), with sshd's usual cause */
function socketReason(e: NodeJS.ErrnoException, s: SshHostSettings): string {
  const d = describeNetworkError(e, { host: s.hostName });
  return d.code === 'ECONNREFUSED' ? `${d.message} (is sshd running on that port?)` : d.message;
}

/** Is this ssh2 'error' one it recovers from by itself (it goes on to the next auth method)? */
function isAuthStepError(e: Error & { level?: string }): boolean {
  return e.level === 'agent' || /^Error while signing/.test(e.message);
}

/**
 * Steps 3 and 4 for one hop: the SSH handshake with its host key check, then authentication,
 * over `sock` (the early socket or a jump channel) or a TCP connection ssh2 dials itself.
 */
/** per connection: the signer with the key it authenticated with (the audit chain signs with it) */
const authSigners = new WeakMap<ClientType, () => Signer | undefined>();

function handshake(hop: Hop, opts: ConnectSshOptions, hostId: string, sock?: Duplex): Promise<ClientType> {
  const proxy = sock instanceof ProxyCommandStream ? sock : undefined;
  const s = hop.settings;
  const home = homeDir();
  const label = hostLabel(s);
  const hostKey = hostKeyCheck(hop, hostId);
  const preferred = hostKey.preferredAlgorithms as ServerHostKeyAlgorithm[];
  // lists from ssh config replace ssh2's (an explicit HostKeyAlgorithms is not reordered, as in ssh)
  const chosen = algorithmChoice(s.algorithms);

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
      const ok = hostKey.verify(key);
      if (!ok) failure = hostKey.failure;
      cb(ok);
    };

    client.on('ready', () => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      authSigners.set(client, () => plan.signer());
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
      if (proxy && !hostKeyChecked) {
        void proxy.settled().then((why) => fail(new ConnectionError(`cannot connect to ${label}: ${why ?? e.message}`, { cause: e, host: hostId })));
        return;
      }
      if (e.level === 'client-socket' || e.code) {
        const err = new ConnectionError(`cannot connect to ${label}: ${socketReason(e as NodeJS.ErrnoException, s)}`, { cause: e, host: hostId });
        if (!hostKeyChecked) dialFailures.add(err);
        return fail(err);
      }
      const reason = /before handshake/i.test(e.message) ? 'connection closed before the SSH handshake (is an SSH server listening there?)' : e.message;
      return fail(new ConnectionError(`cannot connect to ${label}: ${reason}`, { cause: e, host: hostId }));
    });
    client.on('close', () => {
      if (done) return;
      if (failure) return fail(failure);
      if (proxy && !hostKeyChecked) {
        void proxy.settled().then((why) => fail(new ConnectionError(`cannot connect to ${label}: ${why ?? 'ProxyCommand closed the connection before the SSH handshake'}`, { host: hostId })));
        return;
      }
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
      ...(s.addressFamily === 'inet' ? { forceIPv4: true } : s.addressFamily === 'inet6' ? { forceIPv6: true } : {}),
      ...(s.bindAddress ? { localAddress: s.bindAddress } : {}),
      // ForwardAgent: every command the host runs can use the local agent (git clone in a hook)
      ...(s.forwardAgent ? { agent: s.forwardAgent, agentForward: true } : {}),
      algorithms: {
        // curve25519 first: fast everywhere; ssh2's defaults otherwise
        kex: (chosen.kex ?? { remove: 'curve25519-sha256', prepend: 'curve25519-sha256' }) as unknown as Algorithms['kex'],
        ...(s.compression ? { compress: ['zlib@openssh.com', 'zlib', 'none'] as Algorithms['compress'] } : {}),
        ...(chosen.serverHostKey
          ? { serverHostKey: chosen.serverHostKey as Algorithms['serverHostKey'] }
          : preferred.length
            ? { serverHostKey: { remove: preferred, prepend: preferred } as unknown as Algorithms['serverHostKey'] }
            : {}),
        ...(chosen.cipher ? { cipher: chosen.cipher as Algorithms['cipher'] } : {}),
        ...(chosen.hmac ? { hmac: chosen.hmac as Algorithms['hmac'] } : {}),
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
 * Connect to a host from the config. The returned transport holds one connection (plus its jump
 * connections) for every exec until `close()`.
 */
export async function connectSsh(host: ResolvedHost, opts: ConnectSshOptions): Promise<SshTransport> {
  if (host.local) throw new ConnectionError(`host ${host.id} is local; it has no SSH connection`, { host: host.id });
  const clients: ClientType[] = [];
  let route: Hop[] = [];
  try {
    // 1. settings: predial resolved them already when it opened the early connection
    route = opts.early?.route ?? resolveRoute(host, opts.configSource ?? {});
    for (const [i, hop] of route.entries()) {
      // 2. the socket: the early one (only ever opened for a direct host), a channel through the
      // previous hop, the ProxyCommand's stdio, or none (ssh2 dials)
      const sock =
        i > 0
          ? await forwardOut(clients[i - 1], hostLabel(route[i - 1].settings), hop.settings, host.id)
          : hop.settings.proxyCommand !== undefined
            ? new ProxyCommandStream(hop.settings.proxyCommand)
            : takeEarly(opts.early);
      // 3 + 4. handshake, host key, authentication; ConnectionAttempts: a TCP connection that could
      // not be made is tried again a second later, as ssh does (only where ssh2 dials itself)
      let client: ClientType | undefined;
      for (let attempt = 1; !client; attempt++) {
        try {
          client = await handshake(hop, opts, host.id, attempt === 1 ? sock : undefined);
        } catch (e) {
          const again = i === 0 && hop.settings.proxyCommand === undefined && attempt < (hop.settings.connectionAttempts ?? 1) && dialFailures.has(e as object);
          if (!again) throw e;
          await sleep(1000);
        }
      }
      clients.push(client);
    }
  } catch (e) {
    for (const c of [...clients].reverse()) c.end();
    opts.early?.socket?.destroy(); // whatever failed, the early socket must not keep the process alive
    throw e;
  }
  // 5. the transport
  return new SshTransport({
    host: host.id,
    label: hostLabel(route[route.length - 1].settings),
    client: clients[clients.length - 1],
    jumps: clients.slice(0, -1),
    signer: authSigners.get(clients[clients.length - 1])?.(),
    ...(opts.maxChannels !== undefined ? { maxChannels: opts.maxChannels } : {}),
  });
}
