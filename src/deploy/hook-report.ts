/** One line per hook that ran on a host, printed without --verbose (`hook after_switch: <cmd> ok 1.2s`). */
import { HookWatch, type HookRun } from '../remote/steps/hooks.js';
import type { Reporter } from '../ui/reporter.js';

/** a hook command on one line, shortened: the line is a summary, -v shows the output */
function shown(cmd: string | undefined): string {
  if (cmd === undefined) return '(unknown hook)';
  const one = cmd.replace(/\s+/g, ' ').trim();
  return one.length > 100 ? `${one.slice(0, 97)}...` : one;
}

export function hookSummary(h: HookRun, command: string | undefined): string {
  const result = h.timedOut ? 'timed out' : h.code === 0 ? 'ok' : `failed (exit ${h.code})`;
  return `hook ${h.phase}: ${shown(command)} ${result} ${(h.ms / 1000).toFixed(1)}s`;
}

/**
 * A step's onStdout: the remote output (shown with --verbose) and the one line per hook. The
 * reporter redacts secrets from both.
 */
export function remoteOutput(reporter: Reporter, host: string, hooks: Partial<Record<string, string[]>>): (chunk: string) => void {
  const watch = new HookWatch((h) => reporter.info(`[${host}] ${hookSummary(h, hooks[h.phase]?.[h.index])}`));
  return (chunk) => {
    reporter.output(host, chunk);
    watch.write(chunk);
  };
}
