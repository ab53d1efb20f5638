/**
 * Progress output. On a TTY: ora spinners and colour. Off a TTY (cron, CI): plain timestamped
 * lines. With --json: nothing on stdout but the final document (progress goes to stderr only
 * with --verbose). Every text passes through redact().
 */
import { redact, StreamRedactor } from '../config/secrets.js';

export type OutputMode = 'tty' | 'plain' | 'json';

export interface Step {
  succeed(text?: string): void;
  fail(text?: string): void;
  update(text: string): void;
}

export interface Reporter {
  readonly mode: OutputMode;
  readonly verbose: boolean;
  step(text: string): Step;
  info(text: string): void;
  success(text: string): void;
  warn(text: string): void;
  /** remote command output (hooks, checks); shown with --verbose, or when it explains a failure */
  output(host: string, text: string): void;
  /** stop spinners (before prompts / at exit) */
  stop(): void;
}

export interface ReporterOptions {
  mode: OutputMode;
  verbose: boolean;
  color: boolean;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
}

export async function createReporter(o: ReporterOptions): Promise<Reporter> {
  if (o.mode === 'tty') {
    const { TtyReporter } = await import('./tty-reporter.js');
    return new TtyReporter(o);
  }
  return new LineReporter(o);
}

/**
 * Remote output per host: chunks joined into lines and redacted as a stream, so a secret split
 * across two chunks is never printed; `flush` before anything else is printed.
 */
export class HostOutput {
  private streams = new Map<string, StreamRedactor>();
  constructor(private readonly print: (host: string, line: string) => void) {}
  write(host: string, chunk: string): void {
    let s = this.streams.get(host);
    if (!s) {
      s = new StreamRedactor((text) => {
        for (const l of text.split('\n')) this.print(host, l);
      });
      this.streams.set(host, s);
    }
    s.write(chunk);
  }
  flush(): void {
    for (const s of this.streams.values()) s.flush();
  }
}

/**
 * Control characters from servers, hooks or file names made visible (`\x1b`), so no terminal
 * escape but colour (SGR, `ESC [ ... m`, as npm and friends print) reaches the terminal.
 */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;]*m|[\x00-\x08\x0b-\x1f\x7f\x9b]/g, (c) => (c.length > 1 ? c : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

function stamp(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** plain lines; in json mode they go to stderr and only with --verbose */
export class LineReporter implements Reporter {
  readonly mode: OutputMode;
  readonly verbose: boolean;
  private out: NodeJS.WritableStream | undefined;
  private remote = new HostOutput((host, l) => this.write('|', `[${host}] ${l}`));
  constructor(o: ReporterOptions) {
    this.mode = o.mode;
    this.verbose = o.verbose;
    const stdout = o.stdout ?? process.stdout;
    const stderr = o.stderr ?? process.stderr;
    this.out = o.mode === 'json' ? (o.verbose ? stderr : undefined) : stdout;
  }
  private line(kind: string, text: string): void {
    this.remote.flush();
    this.write(kind, text);
  }
  private write(kind: string, text: string): void {
    if (!this.out) return;
    for (const l of printable(redact(text)).split('\n')) this.out.write(`${stamp()} ${kind.padEnd(5)} ${l}\n`);
  }
  step(text: string): Step {
    this.line('...', text);
    return {
      succeed: (t) => this.line('ok', t ?? text),
      fail: (t) => this.line('FAIL', t ?? text),
      update: (t) => this.line('...', t),
    };
  }
  info(text: string): void {
    this.line('info', text);
  }
  success(text: string): void {
    this.line('ok', text);
  }
  warn(text: string): void {
    this.line('WARN', text);
  }
  output(host: string, text: string): void {
    if (this.verbose) this.remote.write(host, text);
  }
  stop(): void {
    this.remote.flush();
  }
}
