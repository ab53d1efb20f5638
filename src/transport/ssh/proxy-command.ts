/**
 * `ProxyCommand`: as ssh runs it, `$SHELL -c "exec <command>"` (tokens already expanded by
 * ssh-config.ts), and the command's stdin/stdout is the connection SSH speaks over. Its stderr is
 * kept (the last lines) so a failed proxy says why in the one-line connection error. Closing the
 * connection ends the command.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { Duplex } from 'node:stream';

const STDERR_KEEP = 2048;

export class ProxyCommandStream extends Duplex {
  private readonly child: ChildProcessWithoutNullStreams;
  private stderrTail = '';
  /** set once the command has exited */
  exit?: { code: number | null; signal: NodeJS.Signals | null };
  spawnError?: Error;

  constructor(readonly command: string) {
    super();
    const shell = process.env.SHELL || '/bin/sh';
    this.child = spawn(shell, ['-c', `exec ${command}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    const { child } = this;
    child.stdout.on('data', (d: Buffer) => {
      if (!this.push(d)) child.stdout.pause();
    });
    child.stdout.on('end', () => this.push(null));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      this.stderrTail = (this.stderrTail + d).slice(-STDERR_KEEP);
    });
    // a command that died makes writes fail with EPIPE: its exit says more, and ssh2 sees the end
    child.stdin.on('error', () => {});
    child.on('error', (e) => {
      this.spawnError = e;
      this.destroy(e);
    });
    child.on('exit', (code, signal) => {
      this.exit = { code, signal };
    });
  }

  /** the last non-empty line the command wrote to stderr */
  lastError(): string | undefined {
    const lines = this.stderrTail.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
    return lines[lines.length - 1];
  }

  /** why the proxy is gone, for a connection error: exit status and its last stderr line */
  describe(): string | undefined {
    if (this.spawnError) return `cannot run ProxyCommand: ${this.spawnError.message}`;
    const err = this.lastError();
    if (!this.exit && !err) return undefined;
    const how = this.exit ? (this.exit.signal ? `was killed by ${this.exit.signal}` : `exited with status ${this.exit.code}`) : 'failed';
    return `ProxyCommand ${how}${err ? `: ${err}` : ''}`;
  }

  /** describe(), once the command has exited (or `ms` passed): its status arrives after its output ends */
  settled(ms = 1000): Promise<string | undefined> {
    if (this.exit || this.spawnError) return Promise.resolve(this.describe());
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve(this.describe());
      };
      const timer = setTimeout(done, ms);
      this.child.once('exit', () => setImmediate(done));
    });
  }

  override _read(): void {
    this.child.stdout.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.child.stdin.destroyed) return cb();
    this.child.stdin.write(chunk, () => cb());
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.child.stdin.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    this.child.stdin.destroy();
    this.child.stdout.destroy();
    this.child.stderr.destroy();
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    cb(err);
  }
}
