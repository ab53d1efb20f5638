/**
 * Long-running commands (watch, webhook). Unlike a one-shot command, SIGTERM/SIGINT is how they
 * are meant to stop: the first signal aborts the running cycle (a deploy cleans up: its lock
 * released, `current` on a complete release) and the command exits 0 once that is done. A second
 * signal exits at once (130). Start-up errors are reported like any command's.
 */
import { ExitCode } from '../errors.js';
import { describeCycle, type CycleResult } from '../pipelines/watcher.js';
import { whileRunning } from './closed-output.js';
import type { GlobalOptions } from './context.js';
import { reportError } from './run.js';

export async function runService(o: GlobalOptions, fn: (signal: AbortSignal) => Promise<void>): Promise<void> {
  const ac = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      process.stderr.write(`${sig} received: stopping after cleanup\n`);
      ac.abort();
    } else {
      process.stderr.write(`error: ${sig} again; exiting without cleanup (the lock may remain: \`ee-deploy unlock\`)\n`);
      process.exit(ExitCode.interrupted);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // nobody reads the log any more: stop as on a first signal
  const unwatch = whileRunning(() => ac.abort());
  try {
    await fn(ac.signal);
    process.exitCode = 0;
  } catch (e) {
    process.exitCode = reportError(e, o);
  } finally {
    unwatch();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** `2026-12-02T18:30:00Z` */
export function stamp(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** One timestamped line per cycle (and per note) on stdout; with --json one JSON object per line. */
export function cycleLogger(o: GlobalOptions, kind: 'watch' | 'webhook') {
  const write = (line: string) => process.stdout.write(line + '\n');
  return {
    note(text: string, extra: Record<string, unknown> = {}) {
      if (o.json) write(JSON.stringify({ time: new Date().toISOString(), kind, event: 'note', message: text, ...extra }));
      else write(`${stamp()} ${kind} ${text}`);
    },
    cycle(r: CycleResult) {
      if (o.json) write(JSON.stringify({ time: new Date().toISOString(), kind, event: 'cycle', ...r }));
      else write(`${stamp()} ${kind} ${describeCycle(r)}`);
    },
  };
}
