import type { Command } from 'commander';
import { lazyAction } from '../lazy.js';

export function register(program: Command): void {
  program
    .command('history [project]')
    .description('the deploy/rollback history recorded on the servers: id, action, status, duration, who, commit, message')
    .option('-n, --limit <n>', 'how many entries', '20')
    .option('--hosts <list>', 'only these hosts (comma-separated)')
    .option('--role <role>', 'only hosts with this role or tag')
    .addHelpText('after', `
Examples:
  ee-deploy history
  ee-deploy history shop -e production -n 50 --json`)
    .action(lazyAction('historyAction'));
}
