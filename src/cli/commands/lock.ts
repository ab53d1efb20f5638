import type { Command } from 'commander';
import { lazyAction } from '../lazy.js';

export function register(program: Command): void {
  program
    .command('lock [project]')
    .description('hold the deploy lock by hand (incident freeze): deploys and rollbacks exit 4 until `unlock`')
    .option('-m, --message <text>', 'why (shown to whoever tries to deploy)')
    .option('--hosts <list>', 'only these hosts (comma-separated)')
    .option('--role <role>', 'only hosts with this role or tag')
    .addHelpText('after', `
Examples:
  ee-deploy lock -m "incident 4711: do not deploy"
  ee-deploy lock shop -e production -m "db migration running"`)
    .action(lazyAction('lockAction'));
  program
    .command('unlock [project]')
    .description('remove the deploy lock (a stale one after a killed deploy, or a hand-held one)')
    .option('--hosts <list>', 'only these hosts (comma-separated)')
    .option('--role <role>', 'only hosts with this role or tag')
    .addHelpText('after', `
Examples:
  ee-deploy unlock
  ee-deploy unlock shop -e production`)
    .action(lazyAction('unlockAction'));
}
