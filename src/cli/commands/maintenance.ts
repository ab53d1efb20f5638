import type { Command } from 'commander';
import { performer } from '../../deploy/identity.js';
import { UsageError } from '../../errors.js';
import { setMaintenance, type MaintenanceAction, type MaintenanceHostResult } from '../../traffic/maintenance.js';
import { globalOptions, isInteractive, loadConfig, printJson, selectHosts } from '../context.js';
import { runCommand } from '../run.js';
import { lazyRun } from '../lazy.js';

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
    .action(lazyRun('maintenance'));
}

const ACTIONS: MaintenanceAction[] = ['on', 'off', 'status'];

function describe(action: MaintenanceAction, h: MaintenanceHostResult): string {
  if (!h.ok) return `${h.host}: ERROR ${h.error}`;
  const doc = h.doc ? ` ("${h.doc.message}" by ${h.doc.user} since ${h.doc.since})` : '';
  if (action === 'off') return `${h.host}: maintenance off${h.was ? ` (was on${doc})` : ' (was not on)'}`;
  return `${h.host}: maintenance ${h.on ? 'ON' : 'off'}${h.on ? doc : ''}`;
}

export const run = async (state: string, project: string | undefined, _opts: unknown, cmd: Command) => {
  const o = globalOptions(cmd) as ReturnType<typeof globalOptions> & { message?: string };
  await runCommand(o, async ({ signal }) => {
    if (!ACTIONS.includes(state as MaintenanceAction)) throw new UsageError(`maintenance: expected on, off or status, got "${state}"`);
    const action = state as MaintenanceAction;
    if (o.message !== undefined && action !== 'on') throw new UsageError(`maintenance ${action}: -m/--message goes with \`maintenance on\``);
    const config = await loadConfig(o, project);
    const hosts = selectHosts(config, o);
    const res = await setMaintenance(config, hosts, action, { interactive: isInteractive(), user: action === 'on' ? await performer(config.dir) : '', message: o.message, signal });
    if (o.json) printJson(res);
    else for (const h of res.hosts) process.stdout.write(`${describe(action, h)}\n`);
    const failed = res.hosts.filter((h) => !h.ok);
    if (failed.length === 0) return 0;
    const also = failed.length > 1 ? ` (and ${failed.length - 1} more host(s))` : '';
    process.stderr.write(`error: ${failed[0].error}${also}\n`);
    return failed[0].exitCode ?? 1;
  });
};
