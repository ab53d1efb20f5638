/**
 * `host: local`: the same pipeline and the same shell scripts as over SSH, run by a local `sh`
 * (SSHKit's Local backend). Used for the README example and as the fast path in tests.
 */
import net from 'node:net';
import { Readable, type Duplex } from 'node:stream';
import { execa } from 'execa';
import type { Cmd } from '../remote/shell.js';
import type { ConnectTarget, ExecOptions, ExecResult, Transport } from './types.js';
import { OutputBuffer } from './output-buffer.js';

export class LocalTransport implements Transport {
  readonly isLocal = true;
  constructor(readonly host: string = 'local') {}

  connect(target: ConnectTarget): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      const s = 'path' in target ? net.connect(target.path) : net.connect(target.port, '127.0.0.1');
      s.once('connect', () => {
        s.off('error', reject);
        resolve(s);
      });
      s.once('error', reject);
    });
  }

  async exec(command: Cmd, options: ExecOptions = {}): Promise<ExecResult> {
    const out = new OutputBuffer(options.maxStdout);
    const err = new OutputBuffer();
    // own process group, so a timeout or abort kills the script's children too (they would
    // otherwise keep the output pipes open and the command "running")
    const child = execa('sh', ['-c', command.text], { reject: false, stdin: 'pipe', stripFinalNewline: false, buffer: false, detached: true, cleanup: true });
    let timedOut = false;
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = options.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          killGroup();
        }, options.timeoutMs)
      : undefined;
    options.signal?.addEventListener('abort', killGroup, { once: true });
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out.push(d);
      options.onStdout?.(d);
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      err.push(d);
      options.onStderr?.(d);
    });
    const stdin = child.stdin!;
    stdin.on('error', () => {}); // EPIPE when the command exits before reading everything
    if (options.stdin === undefined) stdin.end();
    else if (options.stdin instanceof Readable) {
      options.stdin.on('error', (e) => stdin.destroy(e));
      options.stdin.pipe(stdin);
    } else stdin.end(options.stdin);
    try {
      const r = await child;
      const code = timedOut || r.signal ? null : (r.exitCode ?? null);
      return { code, stdout: out.text(), stderr: err.text(), timedOut: timedOut || undefined };
    } finally {
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener('abort', killGroup);
      // nothing reads the rest of the input any more (as SshTransport does): a stream shared with
      // other hosts (upload fan-out) must see this consumer go, not wait for it to drain
      const input = options.stdin;
      if (input instanceof Readable && !input.readableEnded && !input.destroyed) input.destroy();
    }
  }

  async close(): Promise<void> {}
}
