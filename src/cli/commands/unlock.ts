import type { Command } from 'commander';
import { unlockHosts } from '../../deploy/inspect.js';
import { globalOptions, isInteractive, loadConfig, printJson, selectHosts } from '../context.js';
import { runCommand } from '../run.js';
import { lazyRun } from '../lazy.js';

export function register(program: Command): void {
  program
    .command('unlock [project]')
    .description('remove the deploy lock (a stale one after a killed deploy, or a hand-held one)')
    .option('--hosts <list>', 'only these hosts (comma-separated)')
    .option('--role <role>', 'only hosts with this role or tag')
    .addHelpText('after', `
Examples:
  ee-deploy unlock
  ee-deploy unlock shop -e production`)
    .action(lazyRun('unlock'));
}

export const run = async (project: string | undefined, _opts: unknown, cmd: Command) => {
  const o = globalOptions(cmd);
  await runCommand(o, async ({ signal }) => {
    const config = await loadConfig(o, project);
    const res = await unlockHosts(config, selectHosts(config, o), { interactive: isInteractive(), signal });
    if (o.json) printJson({ action: 'unlock', hosts: res });
    else for (const r of res) process.stdout.write(`${r.host}: ${!r.ok ? `ERROR ${r.error}` : r.held ? `unlocked (was held by ${r.held})` : 'was not locked'}\n`);
    const failed = res.filter((r) => !r.ok);
    if (failed.length) {
      process.stderr.write(`error: ${failed[0].error}\n`);
      return failed[0].exitCode ?? 1;
    }
    return 0;
  });
};
