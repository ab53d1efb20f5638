import chalk, { Chalk } from 'chalk';
import ora, { type Ora } from 'ora';
import { redact } from '../config/secrets.js';
import type { Reporter, ReporterOptions, Step } from './reporter.js';

export class TtyReporter implements Reporter {
  readonly mode = 'tty' as const;
  readonly verbose: boolean;
  private c: typeof chalk;
  private active = new Set<Ora>();
  private stream: NodeJS.WritableStream;
  constructor(o: ReporterOptions) {
    this.verbose = o.verbose;
    this.c = new Chalk({ level: o.color ? chalk.level || 1 : 0 });
    this.stream = o.stdout ?? process.stdout;
  }
  step(text: string): Step {
    const s = ora({ text: redact(text), stream: this.stream as NodeJS.WriteStream, color: 'cyan' }).start();
    this.active.add(s);
    const end = () => this.active.delete(s);
    return {
      succeed: (t) => {
        s.succeed(redact(t ?? text));
        end();
      },
      fail: (t) => {
        s.fail(this.c.red(redact(t ?? text)));
        end();
      },
      update: (t) => {
        s.text = redact(t);
      },
    };
  }
  private write(text: string): void {
    // print above running spinners
    for (const s of this.active) s.clear();
    this.stream.write(redact(text) + '\n');
    for (const s of this.active) s.render();
  }
  info(text: string): void {
    this.write(`${this.c.dim('•')} ${text}`);
  }
  success(text: string): void {
    this.write(`${this.c.green('✔')} ${this.c.bold(text)}`);
  }
  warn(text: string): void {
    this.write(`${this.c.yellow('⚠')} ${this.c.yellow(text)}`);
  }
  output(host: string, text: string): void {
    if (!this.verbose) return;
    for (const l of text.replace(/\n$/, '').split('\n')) this.write(this.c.dim(`  ${host} │ ${l}`));
  }
  stop(): void {
    for (const s of this.active) s.stop();
    this.active.clear();
  }
}
