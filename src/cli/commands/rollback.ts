import type { Command } from 'commander';
import { lazyAction } from '../lazy.js';

export function register(program: Command): void {
  program
    .command('rollback [project] [release]')
    .description('switch current back to the previous good release (or a named one), run after_rollback hooks and health checks')
    .option('-m, --message <text>', 'note recorded in the history')
    .option('--hosts <list>', 'only these hosts (comma-separated)')
    .option('--role <role>', 'only hosts with this role or tag')
    .option('--lock-wait <duration>', 'wait up to this long for a running deploy instead of exiting 4')
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
    .action(lazyAction('rollbackAction'));
}
