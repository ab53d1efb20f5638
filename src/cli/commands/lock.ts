import type { Command } from 'commander';
import { lockHosts } from '../../deploy/inspect.js';
import { performer } from '../../deploy/identity.js';
import { globalOptions, isInteractive, loadConfig, printJson, selectHosts } from '../context.js';
import { runCommand } from '../run.js';
import { lazyRun } from '../lazy.js';

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
    .action(lazyRun('lock'));
}

export const run = async (project: string | undefined, _opts: unknown, cmd: Command) => {
  const o = globalOptions(cmd) as ReturnType<typeof globalOptions> & { message?: string };
  await runCommand(o, async ({ signal }) => {
    const config = await loadConfig(o, project);
    const res = await lockHosts(config, selectHosts(config, o), { interactive: isInteractive(), user: await performer(config.dir), message: o.message, signal });
    if (o.json) printJson({ action: 'lock', hosts: res });
    else for (const r of res) process.stdout.write(`${r.host}: ${r.ok ? 'locked' : `NOT locked: ${r.error}`}\n`);
    const failed = res.filter((r) => !r.ok) as { exitCode?: number; error?: string }[];
    if (failed.length) {
      process.stderr.write(`error: ${failed[0].error}\n`);
      return failed[0].exitCode ?? 1;
    }
    return 0;
  });
};
