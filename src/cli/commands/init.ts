import type { Command } from 'commander';
import { lazyAction } from '../lazy.js';

export function register(program: Command): void {
  program
    .command('init')
    .description('write a commented ee-deploy.yaml (prompts on a terminal; flags otherwise)')
    .option('--project <name>', 'project name (default: this directory name)')
    .option('--host <host>', 'server host name or ~/.ssh/config alias; `local` for this machine', 'local')
    .option('--user <user>', 'SSH user', 'deploy')
    .option('--path <path>', 'deploy directory on the server')
    .option('--source <dir>', 'directory to upload', '.')
    .option('--environment <name>', 'environment name', 'production')
    .option('--force', 'overwrite an existing file')
    .addHelpText('after', `
Examples:
  ee-deploy init                                     asks on a terminal
  ee-deploy init --project shop --host web1.example.com --user deploy --path /srv/shop
  ee-deploy init -c deploy/ee-deploy.yaml --host local --path ./.deploy/shop`)
    .action(lazyAction('initAction'));
}
