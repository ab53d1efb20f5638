/**
 * Progress output. On a TTY: ora spinners and colour. Off a TTY (cron, CI): plain timestamped
 * lines. With --json: nothing on stdout but the final document (progress goes to stderr only
 * with --verbose). Every text passes through redact().
 */
import { redact } from '../config/secrets.js';

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

function stamp(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** plain lines; in json mode they go to stderr and only with --verbose */
export class LineReporter implements Reporter {
  readonly mode: OutputMode;
  readonly verbose: boolean;
  private out: NodeJS.WritableStream | undefined;
  constructor(o: ReporterOptions) {
    this.mode = o.mode;
    this.verbose = o.verbose;
    const stdout = o.stdout ?? process.stdout;
    const stderr = o.stderr ?? process.stderr;
    this.out = o.mode === 'json' ? (o.verbose ? stderr : undefined) : stdout;
  }
  private line(kind: string, text: string): void {
    if (!this.out) return;
    for (const l of redact(text).split('\n')) this.out.write(`${stamp()} ${kind.padEnd(5)} ${l}\n`);
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
    if (!this.verbose) return;
    for (const l of text.replace(/\n$/, '').split('\n')) this.line('|', `[${host}] ${l}`);
  }
  stop(): void {}
}
