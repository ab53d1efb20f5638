import { StringDecoder } from 'node:string_decoder';
import type { ExecOptions, ExecResult } from './types.js';

/** Collects a command's output, keeping at most `limit` characters (the tail, where errors are). */
export class OutputBuffer {
  private chunks: string[] = [];
  private size = 0;
  constructor(private readonly limit = 1 << 20) {}
  push(chunk: string): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.limit && this.chunks.length > 1) this.size -= this.chunks.shift()!.length;
  }
  text(): string {
    const t = this.chunks.join('');
    return t.length > this.limit ? t.slice(t.length - this.limit) : t;
  }
}

/**
 * A remote command's stdout and stderr as the transports see them: bytes decoded as UTF-8 across
 * chunk boundaries, kept (the tail) for the result and handed on as they come.
 */
export class ExecStreams {
  private readonly out: OutputBuffer;
  private readonly err = new OutputBuffer();
  private readonly outDec = new StringDecoder('utf8');
  private readonly errDec = new StringDecoder('utf8');
  constructor(private readonly o: Pick<ExecOptions, 'maxStdout' | 'onStdout' | 'onStderr'>) {
    this.out = new OutputBuffer(o.maxStdout);
  }
  stdout(d: Buffer): void {
    this.emitOut(this.outDec.write(d));
  }
  stderr(d: Buffer): void {
    this.emitErr(this.errDec.write(d));
  }
  /** flushes a character cut short at the end (idempotent) */
  end(): void {
    this.emitOut(this.outDec.end());
    this.emitErr(this.errDec.end());
  }
  /** the last `n` characters of stderr (where ssh puts its own complaints) */
  stderrTail(n: number): string {
    return this.err.text().slice(-n);
  }
  result(code: number | null, timedOut?: boolean): ExecResult {
    return { code, stdout: this.out.text(), stderr: this.err.text(), ...(timedOut ? { timedOut: true } : {}) };
  }
  private emitOut(s: string): void {
    if (!s) return;
    this.out.push(s);
    this.o.onStdout?.(s);
  }
  private emitErr(s: string): void {
    if (!s) return;
    this.err.push(s);
    this.o.onStderr?.(s);
  }
}
