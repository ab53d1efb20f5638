/**
 * A Transport runs shell commands on one host (SSHKit's backend idea): `SshTransport` over one
 * ssh2 connection, `LocalTransport` with execa for `host: local`, `DryRunTransport` that only
 * records. The deploy pipeline never knows which one it has.
 */
import type { Duplex, Readable } from 'node:stream';
import type { Cmd } from '../remote/shell.js';
import type { Signer } from './ssh/signer.js';

export interface ExecOptions {
  /** streamed to the command's stdin, then stdin is closed (stdin is always closed) */
  stdin?: Readable | Buffer | string;
  /** live output, e.g. hook output for --verbose */
  onStdout?: (chunk: string) => void;
  onStderr?: (chunk: string) => void;
  /** kill the command after this many ms (exit code null, `timedOut` true) */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** the command changes nothing: a dry run may execute it for real */
  readOnly?: boolean;
  /** stdout characters kept (default 1 MiB, the tail): `open` may print a large manifest */
  maxStdout?: number;
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut?: boolean;
}

export interface Transport {
  /** host id as shown to users */
  readonly host: string;
  /** true for `host: local` (no network) */
  readonly isLocal: boolean;
  /** SSH to this machine (the connection's peer is a loopback address) */
  readonly loopback?: boolean;
  /**
   * The link's round trip and upload throughput, measured once per connection without running a
   * command (SSH: ssh/link-probe.ts); undefined when this transport cannot measure it.
   */
  measureLink?(): Promise<LinkSample | undefined>;
  /** runs `command` with `sh -c` semantics on the host; resolves with its exit code (never rejects on non-zero) */
  exec(command: Cmd, options?: ExecOptions): Promise<ExecResult>;
  /** SSH: the key the connection authenticated with, as a signer (the audit chain signs history lines with it) */
  readonly signer?: Signer;
  /**
   * A byte stream to a Unix socket or a 127.0.0.1 TCP port ON the host (over SSH: OpenSSH's
   * direct-streamlocal / direct-tcpip forwarding, so the host needs no tool to reach it, e.g. the
   * HAProxy admin socket or an app started on a blue-green port).
   */
  connect?(target: ConnectTarget): Promise<Duplex>;
  close(): Promise<void>;
}

export interface LinkSample {
  /** one round trip over the connection, ms */
  rttMs: number;
  /** upload throughput, Mbit/s */
  mbit: number;
  /** bytes the measurement sent */
  probeBytes: number;
}

export type ConnectTarget = { path: string } | { port: number };
