/**
 * --dry-run: records the commands a run would execute (display form: secrets as ***), runs nothing,
 * never connects. Every command "succeeds" with empty output.
 */
import { redact } from '../config/secrets.js';
import type { Cmd } from '../remote/shell.js';
import type { ExecOptions, ExecResult, Transport } from './types.js';

export class DryRunTransport implements Transport {
  readonly isLocal: boolean;
  readonly commands: string[] = [];
  constructor(
    readonly host: string,
    local: boolean,
    private readonly print: (host: string, text: string) => void,
  ) {
    this.isLocal = local;
  }
  async exec(command: Cmd, options: ExecOptions = {}): Promise<ExecResult> {
    const text = redact(command.display);
    this.commands.push(text);
    this.print(this.host, options.stdin !== undefined ? `${text}\n  (stdin: release archive)` : text);
    const s = options.stdin;
    if (s && typeof s === 'object' && 'resume' in s && typeof s.resume === 'function') s.resume();
    return { code: 0, stdout: '', stderr: '' };
  }
  async close(): Promise<void> {}
}
