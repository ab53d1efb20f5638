import chalk, { Chalk } from 'chalk';
import ora, { type Ora } from 'ora';
import { redact } from '../config/secrets.js';
import { HostOutput, printable, type Reporter, type ReporterOptions, type Step } from './reporter.js';

/** secrets redacted and control characters made visible, before our own colours are added */
const clean = (text: string): string => printable(redact(text));

export class TtyReporter implements Reporter {
  readonly mode = 'tty' as const;
  readonly verbose: boolean;
  private c: typeof chalk;
  private active = new Set<Ora>();
  private stream: NodeJS.WritableStream;
  private remote = new HostOutput((host, l) => this.print(this.c.dim(`  ${host} │ ${clean(l)}`)));
  constructor(o: ReporterOptions) {
    this.verbose = o.verbose;
    this.c = new Chalk({ level: o.color ? chalk.level || 1 : 0 });
    this.stream = o.stdout ?? process.stdout;
  }
  step(text: string): Step {
    this.remote.flush();
    const s = ora({ text: clean(text), stream: this.stream as NodeJS.WriteStream, color: 'cyan' }).start();
    this.active.add(s);
    const end = () => this.active.delete(s);
    return {
      succeed: (t) => {
        s.succeed(clean(t ?? text));
        end();
      },
      fail: (t) => {
        s.fail(this.c.red(clean(t ?? text)));
        end();
      },
      update: (t) => {
        s.text = clean(t);
      },
    };
  }
  private write(text: string): void {
    this.remote.flush();
    this.print(text);
  }
  private print(text: string): void {
    // print above running spinners
    for (const s of this.active) s.clear();
    this.stream.write(text + '\n');
    for (const s of this.active) s.render();
  }
  info(text: string): void {
    this.write(`${this.c.dim('•')} ${clean(text)}`);
  }
  success(text: string): void {
    this.write(`${this.c.green('✔')} ${this.c.bold(clean(text))}`);
  }
  warn(text: string): void {
    this.write(`${this.c.yellow('⚠')} ${this.c.yellow(clean(text))}`);
  }
  output(host: string, text: string): void {
    if (this.verbose) this.remote.write(host, text);
  }
  stop(): void {
    this.remote.flush();
    for (const s of this.active) s.stop();
    this.active.clear();
  }
}
