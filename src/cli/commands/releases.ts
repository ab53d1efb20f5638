import type { Command } from 'commander';
import { lazyAction } from '../lazy.js';

export function register(program: Command): void {
  program
    .command('releases [project]')
    .description('list releases per host: id, current marker, commit, who, when, size')
    .option('--hosts <list>', 'only these hosts (comma-separated)')
    .option('--role <role>', 'only hosts with this role or tag')
    .addHelpText('after', `
Examples:
  ee-deploy releases
  ee-deploy releases shop -e production --json`)
    .action(lazyAction('releasesAction'));
}
