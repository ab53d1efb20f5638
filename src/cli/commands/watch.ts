/** `watch`: pull mode on a timer (the library is src/pipelines/). */
import type { Command } from 'commander';
import { parseDuration } from '../../config/duration.js';
import { UsageError } from '../../errors.js';
import { pullRepo } from '../../pipelines/git.js';
import { watchLoop } from '../../pipelines/watch.js';
import { globalOptions, loadConfig, type GlobalOptions } from '../context.js';
import { lazyRun } from '../lazy.js';
import { cycleLogger, runService } from '../service.js';

export function register(program: Command): void {
  program
    .command('watch [project]')
    .description('pull mode: fetch the source repo\'s branch, fast-forward, deploy when it moved; one log line per cycle')
    .option('--branch <name>', 'branch to follow (checked out in the work tree holding source.dir)', 'main')
    .option('--interval <duration>', 'time between cycles', '1m')
    .addHelpText(
      'after',
      `
Examples:
  ee-deploy watch -e production                   follow main, poll every minute
  ee-deploy watch -e staging --branch develop --interval 30s

Each cycle: git fetch of the branch's remote (or origin), fast-forward of the checked-out branch,
deploy when the commit differs from the last one this process saw live. A cycle is skipped while
the deploy lock is held; a failed fetch or deploy is logged (and notified) and the next cycle runs.
A commit that failed to deploy is not retried until the branch moves. SIGTERM/SIGINT stop it
cleanly (a running deploy cleans up first) with exit 0.`,
    )
    .action(lazyRun('watch'));
}

const MIN_INTERVAL_MS = 1000;

export const run = async (project: string | undefined, _opts: unknown, cmd: Command) => {
  const o = globalOptions(cmd) as GlobalOptions & { branch: string; interval: string };
  await runService(o, async (signal) => {
    const intervalMs = parseDuration(o.interval);
    if (intervalMs === undefined || intervalMs < MIN_INTERVAL_MS) throw new UsageError(`--interval: invalid duration "${o.interval}" (at least 1s, e.g. 30s, 1m, 5m)`);
    const config = await loadConfig(o, project);
    const repo = await pullRepo([config.sourceDir, config.dir], o.branch);
    const log = cycleLogger(o, 'watch');
    log.note(`watching ${o.branch} of ${repo} every ${o.interval}: ${config.project} -> ${config.envName} (${config.hosts.map((h) => h.id).join(', ')})`);
    await watchLoop({ load: () => loadConfig(o, project), branch: o.branch, verbose: o.verbose, signal, intervalMs, log: log.cycle });
    log.note('stopped');
  });
};
