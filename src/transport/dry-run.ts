/**
 * --dry-run: wraps the host's real transport (so the plan uses the real state), executes only
 * commands marked `readOnly`, and prints every other command (display form: secrets as ***)
 * instead of running it; those "succeed" with empty output.
 */
import { redact } from '../config/secrets.js';
import type { Cmd } from '../remote/shell.js';
import type { ExecOptions, ExecResult, LinkSample, Transport } from './types.js';

export class DryRunTransport implements Transport {
  readonly isLocal: boolean;
  readonly loopback?: boolean;
  readonly commands: string[] = [];
  readonly host: string;
  constructor(
    private readonly inner: Transport,
    private readonly print: (host: string, text: string) => void,
  ) {
    this.isLocal = inner.isLocal;
    this.loopback = inner.loopback;
    this.host = inner.host;
  }
  async exec(command: Cmd, options: ExecOptions = {}): Promise<ExecResult> {
    if (options.readOnly) return this.inner.exec(command, options);
    const text = redact(command.display);
    this.commands.push(text);
    this.print(this.host, options.stdin !== undefined ? `${text}\n  (stdin: release archive)` : text);
    const s = options.stdin;
    if (s && typeof s === 'object' && 'resume' in s && typeof s.resume === 'function') s.resume();
    return { code: 0, stdout: '', stderr: '' };
  }
  measureLink(): Promise<LinkSample | undefined> {
    return this.inner.measureLink?.() ?? Promise.resolve(undefined);
  }
  async close(): Promise<void> {
    await this.inner.close();
  }
}
