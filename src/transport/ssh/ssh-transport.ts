/**
 * `Transport` over one ssh2 connection (SSHKit's Netssh backend). Every `exec` opens a channel on
 * the same connection; at most `maxChannels` run at once (OpenSSH's MaxSessions defaults to 10),
 * the rest wait their turn. A server that allows fewer sessions is detected (a channel refused
 * while others are open): the cap drops to what it allows and the command waits for a slot. A command resolves on the channel's `close` with the code captured on
 * `exit` (node-ssh's rule); stdin is always ended; channels are closed when a command settles.
 * A connection that drops while commands run rejects them with a ConnectionError (exit 3).
 */
import type { Signer } from './signer.js';
import { Readable, type Duplex } from 'node:stream';
import type { Client, ClientChannel } from 'ssh2';
import { ConnectionError } from '../../errors.js';
import type { Cmd } from '../../remote/shell.js';
import { ExecStreams } from '../output-buffer.js';
import { SessionRefused, SessionSlots } from '../session-slots.js';
import type { ConnectTarget, ExecOptions, ExecResult, LinkSample, Transport } from '../types.js';
import { probeLink } from './link-probe.js';

export const DEFAULT_MAX_CHANNELS = 8;
/**
 * After a timeout or abort, how long to wait for the channel to close before giving up on it.
 * OpenSSH refuses signal requests for root logins ("session signalling requires privilege
 * separation"): there the command keeps running on the server until it ends by itself, and its
 * session stays open on the server until then; we stop waiting for it after this grace.
 */
const KILL_GRACE_MS = 1000;

/**
 * `ClientChannel.signal()` only sends while our side of the channel is writable, i.e. never after
 * stdin was ended, which is always the case here; so send the request on the protocol directly.
 * OpenSSH >= 8.1 honours it (killpg of the command); older servers ignore it and the channel is
 * closed anyway.
 */
function sendSignal(ch: ClientChannel, name: string): void {
  const c = ch as unknown as { outgoing?: { id: number; state: string }; _client?: { _protocol?: { signal(id: number, sig: string): void } } };
  try {
    if ((c.outgoing?.state === 'open' || c.outgoing?.state === 'eof') && c._client?._protocol) c._client._protocol.signal(c.outgoing.id, name);
    else ch.signal(name);
  } catch {
    /* closed, or not supported */
  }
}

export function isLoopbackAddress(a: string | undefined): boolean {
  return !!a && (/^127\./.test(a) || a === '::1' || /^::ffff:127\./i.test(a));
}

export interface SshTransportInit {
  /** host id as shown to users (ResolvedHost.id) */
  host: string;
  /** `user@host:port` for messages */
  label: string;
  client: Client;
  /** jump-host connections, outermost first; closed after `client` */
  jumps?: Client[];
  maxChannels?: number;
  /** the key the connection authenticated with, as a signer (history lines are signed with it) */
  signer?: Signer;
}

export class SshTransport implements Transport {
  readonly isLocal = false;
  /** the TCP peer is this machine (127.x, ::1), e.g. an alias whose HostName is 127.0.0.1 */
  readonly loopback: boolean;
  readonly host: string;
  readonly signer?: Signer;
  /** `user@host:port` */
  readonly label: string;
  private readonly client: Client;
  private readonly jumps: Client[];
  private readonly slots: SessionSlots;
  private readonly running = new Set<(e: Error) => void>();
  private closing = false;
  private lostError?: ConnectionError;
  private closedPromise: Promise<void>;
  private link?: Promise<LinkSample | undefined>;

  constructor(init: SshTransportInit) {
    this.host = init.host;
    this.signer = init.signer;
    this.label = init.label;
    this.client = init.client;
    this.jumps = init.jumps ?? [];
    // through a jump host the bytes cross a network whatever the final address is
    const sock = (init.client as unknown as { _sock?: { remoteAddress?: string } })._sock;
    this.loopback = this.jumps.length === 0 && isLoopbackAddress(sock?.remoteAddress);
    this.slots = new SessionSlots(init.maxChannels ?? DEFAULT_MAX_CHANNELS);
    let markClosed!: () => void;
    this.closedPromise = new Promise<void>((r) => (markClosed = r));
    let lastError: Error | undefined;
    this.client.on('error', (e: Error) => {
      lastError = e;
      this.lost(e.message, e);
    });
    this.client.on('end', () => this.lost(lastError?.message ?? 'closed by the remote host', lastError));
    this.client.on('close', () => {
      this.lost(lastError?.message ?? 'closed by the remote host', lastError);
      markClosed();
    });
    for (const j of this.jumps) j.on('error', () => {}); // failures surface through the target's socket
  }

  /** true until close() or a dropped connection */
  get alive(): boolean {
    return !this.closing && !this.lostError;
  }

  private lost(reason: string, cause?: unknown): void {
    if (this.closing || this.lostError) return;
    this.lostError = new ConnectionError(`connection to ${this.label} lost: ${reason}`, { cause, host: this.host });
    const err = this.lostError;
    for (const fail of [...this.running]) fail(err);
    this.slots.failAll(err);
  }

  /** current cap on concurrent channels (lowered when the server refuses channels) */
  get channelLimit(): number {
    return this.slots.limit;
  }

  private unusable(): ConnectionError | undefined {
    if (this.lostError) return new ConnectionError(this.lostError.message, { cause: this.lostError.cause, host: this.host });
    if (this.closing) return new ConnectionError(`connection to ${this.label} is closed`, { host: this.host });
    return undefined;
  }

  exec(command: Cmd, options: ExecOptions = {}): Promise<ExecResult> {
    return this.slots.run(() => this.unusable(), () => this.run(command, options));
  }

  private run(command: Cmd, options: ExecOptions): Promise<ExecResult> {
    return new Promise<ExecResult>((resolve, reject) => {
      const io = new ExecStreams(options);
      let channel: ClientChannel | undefined;
      let code: number | null | undefined;
      let timedOut = false;
      let aborted = false;
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      let grace: NodeJS.Timeout | undefined;
      const stdinSrc = options.stdin instanceof Readable ? options.stdin : undefined;

      const finish = (error?: Error, keepInput = false) => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        if (grace) clearTimeout(grace);
        options.signal?.removeEventListener('abort', onAbort);
        this.running.delete(onLost);
        if (stdinSrc) {
          if (channel) stdinSrc.unpipe(channel);
          stdinSrc.off('error', onStdinError);
          // nothing will read the rest of the input any more
          if (!keepInput && !stdinSrc.readableEnded && !stdinSrc.destroyed) stdinSrc.destroy();
        }
        if (channel) {
          io.end();
          try {
            channel.close();
          } catch {
            /* already closed */
          }
        }
        if (error) reject(error);
        else resolve(io.result(code ?? null, timedOut));
      };

      const shown = command.display.length > 80 ? `${command.display.slice(0, 77)}...` : command.display;
      const onLost = (e: Error) => finish(new ConnectionError(`${e.message} (while running: ${shown.replace(/\s+/g, ' ')})`, { cause: e, host: this.host }));
      this.running.add(onLost);

      const kill = () => {
        if (!channel) return; // handled once the channel opens
        sendSignal(channel, 'KILL');
        try {
          channel.close();
        } catch {
          /* already closed */
        }
        grace ??= setTimeout(() => finish(), KILL_GRACE_MS);
      };
      const onAbort = () => {
        aborted = true;
        kill();
      };
      const onStdinError = (e: Error) => {
        kill();
        finish(new Error(`cannot send input to ${this.label}: ${e.message}`, { cause: e }));
      };

      if (options.signal?.aborted) {
        finish();
        return;
      }
      options.signal?.addEventListener('abort', onAbort, { once: true });
      if (options.timeoutMs !== undefined && options.timeoutMs > 0) {
        timer = setTimeout(() => {
          timedOut = true;
          kill();
        }, options.timeoutMs);
      }
      stdinSrc?.on('error', onStdinError);

      try {
        this.client.exec(command.text, (e, ch) => {
          if (e) {
            const bad = this.unusable();
            if (!bad && this.slots.active > 1 && !settled) {
              // the server allows fewer sessions than we had open: lower the cap, queue again
              this.slots.lower();
              finish(new SessionRefused(e.message), true);
              return;
            }
            finish(bad ?? new ConnectionError(`cannot start a command on ${this.label}: ${e.message}`, { cause: e, host: this.host }));
            return;
          }
          if (settled) {
            ch.close();
            return;
          }
          channel = ch;
          ch.on('data', (d: Buffer) => io.stdout(d));
          ch.stderr.on('data', (d: Buffer) => io.stderr(d));
          ch.on('exit', (c: number | null) => {
            code = typeof c === 'number' ? c : null; // killed by a signal: null
          });
          ch.on('error', () => {
            /* e.g. writing stdin after the command exited; the outcome comes from exit/close */
          });
          ch.on('close', () => {
            if (code === undefined && !timedOut && !aborted && !this.alive) {
              finish(this.unusable());
              return;
            }
            finish();
          });
          if (timedOut || aborted) {
            kill();
            return;
          }
          const input = options.stdin;
          if (input === undefined) ch.end();
          else if (stdinSrc) stdinSrc.pipe(ch); // pipe handles backpressure and ends stdin
          else ch.end(input as string | Buffer);
        });
      } catch (e) {
        finish(this.unusable() ?? new ConnectionError(`cannot start a command on ${this.label}: ${(e as Error).message}`, { cause: e, host: this.host }));
      }
    });
  }

  /** measured once, on first use, beside whatever else runs on the connection */
  measureLink(): Promise<LinkSample | undefined> {
    if (this.unusable()) return Promise.resolve(undefined);
    this.link ??= probeLink(this.client);
    return this.link;
  }

  /** a forwarding channel (not a session: it does not count against MaxSessions) */
  connect(target: ConnectTarget): Promise<Duplex> {
    const bad = this.unusable();
    if (bad) return Promise.reject(bad);
    return new Promise((resolve, reject) => {
      const done = (e: Error | undefined, ch: ClientChannel) => {
        if (e) reject(new ConnectionError(`${this.host}: cannot reach ${'path' in target ? target.path : `127.0.0.1:${target.port}`} through SSH: ${e.message}`, { cause: e, host: this.host }));
        else resolve(ch);
      };
      if ('path' in target) this.client.openssh_forwardOutStreamLocal(target.path, done);
      else this.client.forwardOut('127.0.0.1', 0, '127.0.0.1', target.port, done);
    });
  }

  async close(): Promise<void> {
    if (this.closing) return this.waitClosed();
    const wasLost = !!this.lostError;
    this.closing = true;
    const err = new ConnectionError(`connection to ${this.label} closed`, { host: this.host });
    this.slots.failAll(err);
    for (const fail of [...this.running]) fail(err);
    try {
      this.client.end();
    } catch {
      /* already gone */
    }
    if (!wasLost) await this.waitClosed();
    for (const j of [...this.jumps].reverse()) {
      try {
        j.end();
      } catch {
        /* already gone */
      }
    }
    this.client.destroy();
    for (const j of this.jumps) j.destroy();
  }

  private async waitClosed(): Promise<void> {
    let t: NodeJS.Timeout | undefined;
    await Promise.race([this.closedPromise, new Promise<void>((r) => (t = setTimeout(r, 1000)))]);
    if (t) clearTimeout(t);
  }
}
