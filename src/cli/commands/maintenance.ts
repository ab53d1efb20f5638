import type { Command } from 'commander';
import { lazyAction } from '../lazy.js';

export function register(program: Command): void {
  program
    .command('maintenance <state> [project]')
    .description('maintenance mode: `on` writes <path>/shared/maintenance.json on every host (your web server answers 503 while it exists), `off` removes it, `status` shows it')
    .option('-m, --message <text>', 'on: the message for visitors (stored in maintenance.json)')
    .option('--hosts <list>', 'only these hosts (comma-separated)')
    .option('--role <role>', 'only hosts with this role or tag')
    .addHelpText('after', `
Examples:
  ee-deploy maintenance on -m "Back at 14:00 UTC"
  ee-deploy maintenance status shop -e production
  ee-deploy maintenance off
  ee-deploy deploy --maintenance          on before the switch, off once the post checks pass

The README has the nginx snippet that turns the file into a 503 page with the message.`)
    .action(lazyAction('maintenanceAction'));
}
