/** `ee-deploy approve <request>`: approve a pending deploy (by someone other than its requester). */
import type { Command } from 'commander';
import { approveRequest } from '../../deploy/approve.js';
import { performer } from '../../deploy/identity.js';
import { globalOptions, isInteractive, loadConfig, printJson, selectHosts } from '../context.js';
import { lazyRun } from '../lazy.js';
import { runCommand } from '../run.js';

export function register(program: Command): void {
  program
    .command('approve <request> [project]')
    .description('approve a pending deploy request on every host; the next deploy of the same content proceeds')
    .option('--hosts <list>', 'only these hosts (comma-separated; an approval counts only on every host of a deploy)')
    .addHelpText('after', `
Examples:
  ee-deploy approve 3f2c1ab09e4d -e production
  ee-deploy approve 3f2c1ab09e4d shop -e production

The approver is the performer (git user.name, else $USER; in CI the CI actor) and must not be the requester.`)
    .action(lazyRun('approve'));
}

export const run = async (request: string, project: string | undefined, _opts: unknown, cmd: Command) => {
  const o = globalOptions(cmd);
  await runCommand(o, async () => {
    const config = await loadConfig(o, project);
    const user = await performer(config.dir);
    const r = await approveRequest(config, selectHosts(config, o), request, { interactive: isInteractive(), user });
    if (o.json) printJson({ action: 'approve', request: r.request, user, approvals: r.approvals.map((a) => a.user), needed: config.policy.approvals ?? 0 });
    else process.stdout.write(`approved ${r.request} (${config.project} ${config.envName}, commit ${(r.commit ?? 'none').slice(0, 12)}) as ${user}: ${r.approvals.length} of ${config.policy.approvals ?? 0} approval(s)\n`);
    return 0;
  });
};
