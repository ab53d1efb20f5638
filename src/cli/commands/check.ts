import type { Command } from 'commander';
import { lazyAction } from '../lazy.js';

export function register(program: Command): void {
  program
    .command('check [project]')
    .description('validate the config, connect to every host (host key, auth), check path, disk, sh/tar, lock; --health runs the post checks against the live release')
    .option('--health', 'also run the post health checks against `current` (no deploy)')
    .option('--hosts <list>', 'only these hosts (comma-separated)')
    .option('--role <role>', 'only hosts with this role or tag')
    .addHelpText('after', `
Examples:
  ee-deploy check                     is everything ready to deploy?
  ee-deploy check -e production --health --json`)
    .action(lazyAction('checkAction'));
}
