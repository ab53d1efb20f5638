/** `ee-deploy approvals`: pending deploy approval requests on the hosts. */
import type { Command } from 'commander';
import { listApprovals } from '../../deploy/approve.js';
import { globalOptions, isInteractive, loadConfig, printJson, selectHosts } from '../context.js';
import { lazyRun } from '../lazy.js';
import { runCommand } from '../run.js';
import { table } from '../table.js';

export function register(program: Command): void {
  program
    .command('approvals [project]')
    .description('pending deploy approval requests (policy.approvals): request, commit, content, requester, approvals, expiry')
    .option('--hosts <list>', 'only these hosts (comma-separated)')
    .addHelpText('after', `
Examples:
  ee-deploy approvals -e production
  ee-deploy approve 3f2c1ab09e4d -e production`)
    .action(lazyRun('approvals'));
}

export const run = async (project: string | undefined, _opts: unknown, cmd: Command) => {
  const o = globalOptions(cmd);
  await runCommand(o, async () => {
    const config = await loadConfig(o, project);
    const list = await listApprovals(config, selectHosts(config, o), { interactive: isInteractive() });
    if (o.json) printJson({ project: config.project, env: config.envName, requests: list });
    else if (!list.length) process.stdout.write(`no pending approval requests for ${config.project} ${config.envName}\n`);
    else
      process.stdout.write(
        table(
          ['request', 'commit', 'content', 'requester', 'approvals', 'expires'],
          list.map((r) => [r.request, (r.commit ?? '').slice(0, 12), r.fingerprint.slice(0, 12), r.requester, `${r.approvals.filter((a) => a.user !== r.requester).map((a) => a.user).join(',') || '-'} (${r.approvals.length}/${r.needed})`, r.expires.replace(/\.\d+Z$/, 'Z')]),
        ),
      );
    return 0;
  }, { readOnly: true });
};
