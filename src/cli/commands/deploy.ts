import type { Command } from 'commander';
import { registerProject } from '../../config/registry.js';
import { deploy } from '../../deploy/deploy.js';
import { globalOptions, isInteractive, loadConfig, lockWaitMs, printJson, reporterFor, selectHosts } from '../context.js';
import { runCommand } from '../run.js';

export function register(program: Command): void {
  program
    .command('deploy [project]')
    .description('build, upload a new release, link shared paths, run hooks, switch current, check health (rolls back on failure), prune')
    .option('-m, --message <text>', 'note recorded in the history and the lock')
    .option('--hosts <list>', 'only these hosts (comma-separated)')
    .option('--role <role>', 'only hosts with this role or tag')
    .option('--lock-wait <duration>', 'wait up to this long for another deploy to finish instead of exiting 4')
    .addHelpText(
      'after',
      `
Examples:
  ee-deploy deploy                       deploy ./ee-deploy.yaml (its only environment)
  ee-deploy deploy -e production         pick an environment
  ee-deploy deploy shop -e staging       a registered project, from any directory
  ee-deploy deploy --dry-run             print hosts, steps and remote commands; change nothing
  ee-deploy deploy --json --lock-wait 2m for CI: one JSON document, wait for a running deploy`,
    )
    .action(async (project: string | undefined, _opts, cmd: Command) => {
      const o = globalOptions(cmd) as ReturnType<typeof globalOptions> & { message?: string };
      await runCommand(o, async ({ signal }) => {
        const config = loadConfig(o, project);
        const reporter = await reporterFor(o);
        try {
          const result = await deploy({ config, reporter, hosts: selectHosts(config, o), interactive: isInteractive(), dryRun: o.dryRun, lockWaitMs: lockWaitMs(o), signal, message: o.message });
          if (!o.dryRun) registerProject(config.project, config.file);
          if (o.json) printJson(result);
          return 0;
        } finally {
          reporter.stop();
        }
      });
    });
}
