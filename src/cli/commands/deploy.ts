import type { Command } from 'commander';
import { reportToGithub } from '../../ci/github.js';
import { registerProject } from '../../config/registry.js';
import { deploy } from '../../deploy/deploy.js';
import { UsageError } from '../../errors.js';
import { globalOptions, isInteractive, loadConfig, lockWaitMs, printJson, reporterFor, selectHosts } from '../context.js';
import { publishAfterRun } from '../publish.js';
import { runCommand } from '../run.js';
import { lazyRun } from '../lazy.js';

export function register(program: Command): void {
  program
    .command('deploy [project]')
    .description('build, upload a new release, link shared paths, run hooks, switch current, check health (rolls back on failure), prune')
    .option('-m, --message <text>', 'note recorded in the history and the lock')
    .option('--hosts <list>', 'only these hosts (comma-separated)')
    .option('--role <role>', 'only hosts with this role or tag')
    .option('--lock-wait <duration>', 'wait up to this long for another deploy to finish instead of exiting 4')
    .option('--force', 'deploy even where another project owns the path (it becomes this project\'s)')
    .option('--canary-only', 'strategy canary: stop once the canary hosts are live and healthy (the rest stay prepared)')
    .option('--if-changed', 'do nothing (exit 0, "unchanged") when every selected host already runs this content: cron-safe')
    .option('--promote', 'switch the remaining hosts to the release of the last --canary-only deploy, then check them')
    .option('--override-policy', 'deploy outside the policy windows or inside a freeze (needs -m REASON; recorded in the history, notified as a warning)')
    .option('--maintenance', 'maintenance mode on (shared/maintenance.json) just before the switch, off once the post checks passed (and after a failure)')
    .addHelpText(
      'after',
      `
Examples:
  ee-deploy deploy                       deploy ./ee-deploy.yaml (its only environment)
  ee-deploy deploy -e production         pick an environment
  ee-deploy deploy shop -e staging       a registered project, from any directory
  ee-deploy deploy --dry-run             print hosts, steps and remote commands; change nothing
  ee-deploy deploy --json --lock-wait 2m for CI: one JSON document, wait for a running deploy
  ee-deploy deploy --role web            only the hosts with role (or tag) web
  ee-deploy deploy --hosts web1,web2     only these hosts
  ee-deploy deploy --canary-only         strategy canary: switch the canary, watch it, stop
  ee-deploy deploy --promote             then switch the rest of the fleet to the canary's release
  ee-deploy deploy --override-policy -m "hotfix INC-42"   outside the deploy window (not approvals)
  ee-deploy deploy --maintenance         503 page (maintenance.json) during the switch
  ee-deploy deploy --if-changed          from cron/CI: no new release when the hosts already run this content

Strategies (environments.<env>.strategy): parallel (default) prepares every host, then switches
them all; rolling prepares, switches and checks \`batch\` hosts (a number or "25%") at a time,
with \`pause\` between batches; canary switches \`canary.hosts\` hosts first and re-runs the post
health checks for \`canary.wait\`, then the rest. Any failure after a switch rolls every switched
host back, so the fleet ends on one release.`,
    )
    .action(lazyRun('deploy'));
}

export const run = async (project: string | undefined, _opts: unknown, cmd: Command) => {
  const o = globalOptions(cmd) as ReturnType<typeof globalOptions> & { message?: string; canaryOnly?: boolean; promote?: boolean; overridePolicy?: boolean; maintenance?: boolean; ifChanged?: boolean; force?: boolean };
  await runCommand(o, async ({ signal }) => {
    if (o.overridePolicy && !o.message?.trim()) throw new UsageError('--override-policy needs -m REASON (recorded in the history and notified)');
    const config = await loadConfig(o, project);
    const reporter = await reporterFor(o);
    let result;
    try {
      result = await deploy({ config, reporter, hosts: selectHosts(config, o), interactive: isInteractive(), dryRun: o.dryRun, lockWaitMs: lockWaitMs(o), signal, message: o.message, canaryOnly: o.canaryOnly, promote: o.promote, maintenance: o.maintenance, overridePolicy: o.overridePolicy ? o.message : undefined, ifChanged: o.ifChanged, force: o.force });
    } catch (e) {
      reporter.stop();
      await publishAfterRun(config, { dryRun: o.dryRun, interactive: isInteractive() }, e);
      throw e;
    } finally {
      reporter.stop();
    }
    if (!o.dryRun) registerProject(config.project, config.file);
    await publishAfterRun(config, { dryRun: o.dryRun, interactive: isInteractive() });
    if (o.json) printJson(result);
    reportToGithub('deploy', { result });
    return 0;
  });
};
