/** Local steps before anything touches a server: before_upload hooks and source.build. */
import { redact } from '../config/secrets.js';
import { DeployError, InterruptedError } from '../errors.js';
import type { Reporter } from '../ui/reporter.js';
import { tail } from './remote.js';

export async function runLocalCommand(command: string, o: { cwd: string; reporter: Reporter; step: string; signal?: AbortSignal }): Promise<void> {
  const s = o.reporter.step(`${o.step}: ${command}`);
  const { execa } = await import('execa'); // loaded only by projects with local steps
  const child = execa(command, { shell: true, cwd: o.cwd, reject: false, all: true, stdin: 'ignore', cancelSignal: o.signal });
  child.all?.setEncoding('utf8').on('data', (d: string) => o.reporter.output('local', d));
  const r = await child;
  if (o.signal?.aborted) {
    s.fail(`${o.step} interrupted`);
    throw new InterruptedError(`interrupted during ${o.step}`);
  }
  if (r.exitCode !== 0) {
    s.fail(`${o.step} failed`);
    const out = tail(String(r.all ?? ''), 20);
    if (out && !o.reporter.verbose) o.reporter.info(out);
    const lastLine = tail(String(r.all ?? ''), 1);
    throw new DeployError(redact(`${o.step} failed (exit ${r.exitCode ?? 'signal'}): ${command}${lastLine ? ` — ${lastLine}` : ''}`), { step: o.step, host: 'local' });
  }
  s.succeed(`${o.step}: ${command}`);
}
