import type { Command } from 'commander';
import { lazyAction } from '../lazy.js';

export function register(program: Command): void {
  program
    .command('notify [project]')
    .description('send a test message to every configured notification channel and report each result')
    .option('--test', 'send a test message (required)')
    .addHelpText('after', `
Examples:
  ee-deploy notify --test
  ee-deploy notify shop -e production --test --json`)
    .action(lazyAction('notifyAction'));
}
