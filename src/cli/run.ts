/**
 * The one place errors become exit codes (README: Exit codes) and messages: one line on stderr,
 * `error: ...`; with --json also a JSON document on stdout; a stack only with --verbose.
 */
import { reportToGithub } from '../ci/github.js';
import { redact, redactDeep } from '../config/secrets.js';
import { EeError, ExitCode, InterruptedError } from '../errors.js';
import { oneLine } from '../util/text.js';
import { whileRunning } from './closed-output.js';
import { printJson, type GlobalOptions } from './context.js';

export interface CommandContext {
  signal: AbortSignal;
}

export interface RunCommandOptions {
  /**
   * the command only reads (check, releases, history...): on SIGINT/SIGTERM it ends at once with
   * exit 130, whatever it is waiting for (a host that never answers, a hung remote `df`), since
   * there is nothing of its own to clean up
   */
  readOnly?: boolean;
}

export async function runCommand(o: GlobalOptions, fn: (ctx: CommandContext) => Promise<number | void>, opts: RunCommandOptions = {}): Promise<void> {
  const ac = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      process.stderr.write(`\n${sig} received: cleaning up (press Ctrl-C again to exit at once)\n`);
      ac.abort(new InterruptedError(`interrupted by ${sig}`));
    } else {
      process.stderr.write(`error: interrupted again; exiting without cleanup (the lock may remain: \`ee-deploy unlock\`)\n`);
      process.exit(ExitCode.interrupted);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const unwatch = whileRunning(() => ac.abort(new InterruptedError('interrupted: its output was closed')));
  let abandoned = false;
  const onAbort = new Promise<never>((_, reject) =>
    ac.signal.addEventListener('abort', () => {
      abandoned = true;
      reject(ac.signal.reason);
    }, { once: true }),
  );
  onAbort.catch(() => {});
  try {
    const run = fn({ signal: ac.signal });
    const code = await (opts.readOnly ? Promise.race([run, onAbort]) : run);
    // a command that finished despite a closed output pipe keeps its code; one that a signal hit does not
    process.exitCode = signals > 0 ? ExitCode.interrupted : (code ?? 0);
  } catch (e) {
    process.exitCode = reportError(e, o, ac.signal.aborted);
  } finally {
    unwatch();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    // what it was waiting for (a connection, a remote command) would keep the process alive:
    // leave once the error line is out
    // after an interrupt, once the command's own cleanup is done, nothing else (a connection
    // still being made) keeps the process
    if ((opts.readOnly && abandoned) || signals > 0) setTimeout(() => process.exit(), 100).unref();
  }
}

export function reportError(e: unknown, o: GlobalOptions, aborted = false): number {
  const ee = e instanceof EeError ? e : undefined;
  let code: number = ee ? ee.exitCode : ExitCode.failed;
  if (aborted && code !== ExitCode.needsHuman) code = ExitCode.interrupted;
  const message = redact(oneLine(ee ? ee.message : `unexpected error: ${(e as Error)?.message ?? String(e)}`));
  if (o.json) {
    printJson(
      redactDeep({
        ok: false,
        exitCode: code,
        error: { message, type: ee?.name ?? 'Error', host: ee?.host, step: ee?.step, hosts: (ee as { hosts?: unknown })?.hosts },
        result: ee?.result,
      }),
    );
  }
  process.stderr.write(`error: ${message}\n`);
  // under GitHub Actions: an annotation, the job summary, status in the step outputs
  reportToGithub(undefined, { result: ee?.result, error: message, errorStream: o.json ? process.stderr : process.stdout });
  if (o.verbose && e instanceof Error && e.stack) process.stderr.write(redact(e.stack) + '\n');
  return code;
}
