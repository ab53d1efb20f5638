/**
 * `Transport` over the system `ssh`: every exec is `ssh -S <control socket> -- <command>`, a
 * session multiplexed over the host's one master connection (master.ts). Streams, exit codes and
 * failures behave as with the built-in client (ssh/ssh-transport.ts): stdout/stderr decoded as
 * UTF-8 and streamed to the callbacks, stdin piped with backpressure and always ended, at most
 * DEFAULT_MAX_CHANNELS sessions at once (the cap drops when sshd refuses sessions), a timeout or
 * abort ends the session and resolves with code null, a lost connection rejects with a
 * ConnectionError (exit 3).
 */
import { execFile, spawn } from 'node:child_process';
import net from 'node:net';
import { Duplex, PassThrough, Readable } from 'node:stream';
import { ConnectionError } from '../../errors.js';
import { cmd, raw, type Cmd } from '../../remote/shell.js';
import { ExecStreams } from '../output-buffer.js';
import { SessionRefused, SessionSlots } from '../session-slots.js';
import type { Signer } from '../ssh/signer.js';
import { DEFAULT_MAX_CHANNELS } from '../ssh/ssh-transport.js';
import type { ConnectTarget, ExecOptions, ExecResult, LinkSample, Transport } from '../types.js';
import { execArgs, forwardArgs, SSH_BIN } from './args.js';
import type { Master } from './master.js';
import { releaseRuntimeDir, runtimePath } from './runtime-dir.js';

/** bytes sent to measure the upload throughput (as the built-in client's probe) */
const PROBE_BYTES = 256 * 1024;
/** below this a burst is repeated once (as the built-in client's probe does) */
const PROBE_REPEAT_BELOW_MBIT = 400;
/** constant shell text: up; one answered line; up to two bursts, each answered once read */
const PROBE_SCRIPT = `echo; read -r _; echo; head -c ${PROBE_BYTES} >/dev/null; echo; head -c ${PROBE_BYTES} >/dev/null; echo`;

/** ssh's own words when a multiplexed session could not start or its master went away */
const SESSION_REFUSED = /^mux_client_request_session: session request failed: (.*)$/m;
const MASTER_GONE = /^(Control socket connect|mux_client_\w+: (read|write)|ssh_exchange_identification|kex_exchange_identification|Connection closed by UNKNOWN)/m;

export interface OpenSshTransportInit {
  host: string;
  label: string;
  controlPath: string;
  master: Master;
  loopback: boolean;
  signer?: Signer;
  maxChannels?: number;
}

export class OpenSshTransport implements Transport {
  readonly isLocal = false;
  readonly host: string;
  readonly label: string;
  readonly loopback: boolean;
  readonly signer?: Signer;
  private readonly controlPath: string;
  private readonly master: Master;
  private readonly slots: SessionSlots;
  private readonly running = new Set<(e: Error) => void>();
  private readonly forwards = new Map<string, Promise<string>>();
  private closing = false;
  private lostError?: ConnectionError;
  private link?: Promise<LinkSample | undefined>;

  constructor(init: OpenSshTransportInit) {
    this.host = init.host;
    this.label = init.label;
    this.controlPath = init.controlPath;
    this.master = init.master;
    this.loopback = init.loopback;
    this.signer = init.signer;
    this.slots = new SessionSlots(init.maxChannels ?? DEFAULT_MAX_CHANNELS);
    this.master.onLost = (reason) => this.lost(reason);
  }

  get alive(): boolean {
    return !this.closing && !this.lostError && this.master.alive;
  }

  get channelLimit(): number {
    return this.slots.limit;
  }

  private lost(reason: string): void {
    if (this.closing || this.lostError) return;
    this.lostError = new ConnectionError(`connection to ${this.label} lost: ${reason}`, { host: this.host });
    for (const fail of [...this.running]) fail(this.lostError);
    this.slots.failAll(this.lostError);
  }

  private unusable(): ConnectionError | undefined {
    if (this.lostError) return new ConnectionError(this.lostError.message, { host: this.host });
    if (this.closing) return new ConnectionError(`connection to ${this.label} is closed`, { host: this.host });
    if (!this.master.alive) return new ConnectionError(`connection to ${this.label} lost: ${this.master.lastMessage() ?? 'the ssh master connection exited'}`, { host: this.host });
    return undefined;
  }

  exec(command: Cmd, options: ExecOptions = {}): Promise<ExecResult> {
    return this.slots.run(() => this.unusable(), () => this.run(command, options));
  }

  private run(command: Cmd, options: ExecOptions): Promise<ExecResult> {
    return new Promise<ExecResult>((resolve, reject) => {
      const io = new ExecStreams(options);
      const stdinSrc = options.stdin instanceof Readable ? options.stdin : undefined;
      let settled = false;
      let killed = false;
      let timedOut = false;
      let timer: NodeJS.Timeout | undefined;
      const shown = (command.display.length > 80 ? `${command.display.slice(0, 77)}...` : command.display).replace(/\s+/g, ' ');

      if (options.signal?.aborted) {
        resolve({ code: null, stdout: '', stderr: '' });
        return;
      }
      // its own process group: Ctrl-C in the terminal reaches this process, which decides
      const child = spawn(SSH_BIN, execArgs(this.controlPath, command.text), { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
      const kill = () => {
        killed = true;
        try {
          child.kill('SIGTERM');
        } catch {
          /* gone */
        }
      };
      const onAbort = () => kill();
      const finish = (e?: Error, keepInput = false) => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        this.running.delete(onLost);
        if (stdinSrc) {
          stdinSrc.unpipe(child.stdin!);
          stdinSrc.off('error', onStdinError);
          // nothing will read the rest of the input any more
          if (!keepInput && !stdinSrc.readableEnded && !stdinSrc.destroyed) stdinSrc.destroy();
        }
        if (e) {
          if (child.exitCode === null) kill();
          reject(e);
        }
      };
      const onLost = (e: Error) => finish(new ConnectionError(`${e.message} (while running: ${shown})`, { cause: e, host: this.host }));
      const onStdinError = (e: Error) => {
        kill();
        finish(new Error(`cannot send input to ${this.label}: ${e.message}`, { cause: e }));
      };
      this.running.add(onLost);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      if (options.timeoutMs !== undefined && options.timeoutMs > 0) {
        timer = setTimeout(() => {
          timedOut = true;
          kill();
        }, options.timeoutMs);
      }
      child.on('error', (e) => finish(new ConnectionError(`cannot run ${SSH_BIN} for ${this.label}: ${e.message}`, { cause: e, host: this.host })));
      child.stdout!.on('data', (d: Buffer) => io.stdout(d));
      child.stderr!.on('data', (d: Buffer) => io.stderr(d));
      // ssh hands the session's pipes to the master, which holds them until the remote command
      // ends: a session we ended must not wait for that (the command may be stuck)
      child.once('exit', (_code, signal) => {
        if (!killed && !signal) return;
        child.stdout!.destroy();
        child.stderr!.destroy();
        io.end();
        if (settled) return;
        finish();
        resolve(io.result(null, timedOut));
      });
      child.once('close', (code, signal) => {
        if (settled || killed || signal) return;
        io.end();
        if (code === 255) {
          // ssh's own complaints are in the last lines of stderr
          const errText = io.stderrTail(2048);
          const refused = SESSION_REFUSED.exec(errText);
          if (refused && this.slots.active > 1) {
            // sshd allows fewer sessions than we had open (MaxSessions): lower the cap, queue again
            this.slots.lower();
            finish(new SessionRefused(refused[1]), true);
            return;
          }
          if (refused) return finish(new ConnectionError(`cannot start a command on ${this.label}: ${refused[1]}`, { host: this.host }));
          if (MASTER_GONE.test(errText) || !this.master.alive) {
            // the master went away: say why once it has exited (its log names the reason)
            void Promise.race([this.master.exited, new Promise((r) => setTimeout(r, 300))]).then(() =>
              finish(this.unusable() ?? new ConnectionError(`connection to ${this.label} lost (while running: ${shown})`, { host: this.host })),
            );
            return;
          }
        }
        finish();
        resolve(io.result(code ?? null));
      });
      const stdin = child.stdin!;
      stdin.on('error', () => {}); // EPIPE: the command exited before reading all its input
      stdinSrc?.on('error', onStdinError);
      const input = options.stdin;
      if (input === undefined) stdin.end();
      else if (stdinSrc) stdinSrc.pipe(stdin);
      else stdin.end(input as string | Buffer);
    });
  }

  /**
   * The link for `compress: auto`. The master's connection is out of reach of this process, so
   * one small session measures it: the remote side says it is up, answers one line (a round
   * trip), then reads a 256 KiB burst and answers (the upload time plus a round trip). As the
   * built-in client's probe does, a slow-looking burst is sent once more and the best counts
   * (this machine's scheduling only ever adds time). One session per connection.
   */
  measureLink(): Promise<LinkSample | undefined> {
    this.link ??= new Promise<LinkSample | undefined>((resolve) => {
      const input = new PassThrough();
      let lines = 0;
      let t = 0;
      let rttMs = 0;
      let best = 0;
      let bursts = 0;
      let ended = false;
      const burst = () => {
        bursts++;
        t = performance.now();
        input.write(Buffer.alloc(PROBE_BYTES));
      };
      const onStdout = (chunk: string) => {
        for (const ch of chunk) {
          if (ch !== '\n') continue;
          const now = performance.now();
          lines++;
          if (lines === 1) {
            t = now;
            input.write('\n');
          } else if (lines === 2) {
            rttMs = now - t;
            burst();
          } else if (!ended) {
            best = Math.max(best, (PROBE_BYTES * 8) / (Math.max(now - t - rttMs, 0.5) * 1000));
            if (lines === 3 && best < PROBE_REPEAT_BELOW_MBIT) burst();
            else {
              ended = true;
              input.end();
            }
          }
        }
      };
      this.exec(cmd(raw(PROBE_SCRIPT)), { stdin: input, onStdout, timeoutMs: 30_000 }).then(
        (r) => resolve(r.code === 0 && best > 0 ? { rttMs, mbit: best, probeBytes: PROBE_BYTES * bursts } : undefined),
        () => resolve(undefined),
      );
    });
    return this.link;
  }

  /**
   * A stream to a Unix socket or a 127.0.0.1 port on the host: the master forwards a local Unix
   * socket in the private runtime directory to it (`ssh -O forward -L`, OpenSSH's
   * direct-streamlocal / direct-tcpip, so the host needs no tool). A target the server cannot open
   * shows as a stream that ends before its first byte: that is turned into an "open failed" error.
   */
  async connect(target: ConnectTarget): Promise<Duplex> {
    const bad = this.unusable();
    if (bad) throw bad;
    const what = 'path' in target ? target.path : `127.0.0.1:${target.port}`;
    const key = 'path' in target ? `p:${target.path}` : `t:${target.port}`;
    let local = this.forwards.get(key);
    if (!local) {
      const sock = runtimePath('f');
      local = new Promise<string>((resolve, reject) => {
        execFile(SSH_BIN, forwardArgs(this.controlPath, sock, target), { timeout: 15_000 }, (e, _o, stderr) => {
          if (e) reject(new ConnectionError(`${this.host}: cannot reach ${what} through SSH: open failed (${String(stderr).trim().split('\n').at(-1) || e.message})`, { host: this.host }));
          else resolve(sock);
        });
      });
      this.forwards.set(key, local);
      local.catch(() => this.forwards.delete(key));
    }
    const path = await local;
    const s = await new Promise<net.Socket>((resolve, reject) => {
      const c = net.connect(path);
      c.once('connect', () => {
        c.off('error', reject);
        resolve(c);
      });
      c.once('error', (e) => reject(new ConnectionError(`${this.host}: cannot reach ${what} through SSH: ${e.message}`, { cause: e, host: this.host })));
    });
    return firstByteGuard(s, () => new ConnectionError(`${this.host}: cannot reach ${what} through SSH: open failed (closed before any answer)`, { host: this.host }));
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const err = new ConnectionError(`connection to ${this.label} closed`, { host: this.host });
    this.slots.failAll(err);
    for (const fail of [...this.running]) fail(err);
    // SIGTERM: ssh ends its sessions and closes the connection as for `ssh -O exit`
    await this.master.stop();
    releaseRuntimeDir();
  }
}

/** a socket whose end before its first byte is an error (the forwarded target could not be opened) */
function firstByteGuard(s: net.Socket, failure: () => Error): Duplex {
  let got = false;
  const d = new Duplex({
    read() {
      s.resume();
    },
    write(chunk, _enc, cb) {
      // before the first byte a write error means the target was not opened: 'close' says so
      s.write(chunk, (e) => cb(e && got ? e : undefined));
    },
    final(cb) {
      s.end();
      cb();
    },
    destroy(e, cb) {
      s.destroy();
      cb(e);
    },
  });
  s.on('data', (b: Buffer) => {
    got = true;
    if (!d.push(b)) s.pause();
  });
  s.on('end', () => (got ? d.push(null) : d.destroy(failure())));
  s.on('error', (e) => d.destroy(got ? e : failure()));
  s.on('close', () => {
    if (!d.destroyed && !got) d.destroy(failure());
  });
  return d;
}
