import type { Command } from 'commander';
import { reportToGithub } from '../../ci/github.js';
import { rollback, type RollbackPlanEntry } from '../../deploy/rollback.js';
import { UsageError } from '../../errors.js';
import { isReleaseId } from '../../remote/release-id.js';
import { globalOptions, isInteractive, loadConfig, lockWaitMs, printJson, reporterFor, selectHosts } from '../context.js';
import { publishAfterRun } from '../publish.js';
import { runCommand } from '../run.js';
import { lazyRun } from '../lazy.js';

export function register(program: Command): void {
  program
    .command('rollback [project] [release]')
    .description('switch current back to the previous good release (or a named one), run after_rollback hooks and health checks')
    .option('--restore-backup', 'first run backup.restore with the backup taken before the release being left (on the migrate host)')
    .option('-m, --message <text>', 'note recorded in the history')
    .option('--hosts <list>', 'only these hosts (comma-separated)')
    .option('--role <role>', 'only hosts with this role or tag')
    .option('--lock-wait <duration>', 'wait up to this long for a running deploy instead of exiting 4')
    .option('--force', 'roll back even where another project owns the path (it becomes this project\'s)')
    .addHelpText(
      'after',
      `
With one argument in release-id form (14 digits, e.g. 20261122093000) it is the release,
otherwise the project name. Asks for confirmation on a terminal; off a terminal pass --yes.

Examples:
  ee-deploy rollback                         previous release, ./ee-deploy.yaml
  ee-deploy rollback shop --yes              a registered project, from any directory (cron/CI)
  ee-deploy rollback 20261121170000          a named release
  ee-deploy rollback shop 20261121170000 -e production`,
    )
    .action(lazyRun('rollback'));
}

export const run = async (a: string | undefined, b: string | undefined, _opts: unknown, cmd: Command) => {
  const o = globalOptions(cmd) as ReturnType<typeof globalOptions> & { message?: string; restoreBackup?: boolean; force?: boolean };
  await runCommand(o, async ({ signal }) => {
    let project = a;
    let release = b;
    if (a !== undefined && b === undefined && isReleaseId(a)) {
      project = undefined;
      release = a;
    }
    const interactive = isInteractive();
    if (!o.yes && !interactive && !o.dryRun) throw new UsageError('rollback needs --yes when stdin is not a terminal');
    const config = await loadConfig(o, project);
    const reporter = await reporterFor(o);
    try {
      const confirm =
        o.yes || o.dryRun
          ? undefined
          : async (plan: RollbackPlanEntry[]) => {
              reporter.stop();
              const { default: Enquirer } = await import('enquirer');
              const target = [...new Set(plan.map((p) => p.to))].join(', ');
              const answer = (await Enquirer.prompt({ type: 'confirm', name: 'ok', initial: false, message: `Roll back ${config.project} (${config.envName}) on ${plan.length} host(s) to ${target}?` })) as { ok: boolean };
              return answer.ok;
            };
      let result;
      try {
        result = await rollback({ config, reporter, hosts: selectHosts(config, o), interactive, dryRun: o.dryRun, lockWaitMs: lockWaitMs(o), signal, release, message: o.message, confirm, restoreBackup: o.restoreBackup, force: o.force });
      } catch (e) {
        reporter.stop();
        await publishAfterRun(config, { dryRun: o.dryRun, interactive }, e);
        throw e;
      }
      reporter.stop();
      if (result.status !== 'cancelled') await publishAfterRun(config, { dryRun: o.dryRun, interactive });
      if (o.json) printJson(result);
      if (result.status !== 'cancelled') reportToGithub('rollback', { result });
      return result.status === 'cancelled' ? 1 : 0;
    } finally {
      reporter.stop();
    }
  });
};
