import type { Command } from 'commander';
import { performer } from '../../deploy/identity.js';
import { UsageError } from '../../errors.js';
import { globalOptions, loadConfig, printJson } from '../context.js';
import { runCommand } from '../run.js';
import { lazyRun } from '../lazy.js';

export function register(program: Command): void {
  program
    .command('notify [project]')
    .description('send a test message to every configured notification channel and report each result')
    .option('--test', 'send a test message (required)')
    .addHelpText('after', `
Examples:
  ee-deploy notify --test
  ee-deploy notify shop -e production --test --json`)
    .action(lazyRun('notify'));
}

export const run = async (project: string | undefined, opts: { test?: boolean }, cmd: Command) => {
  const o = globalOptions(cmd);
  await runCommand(o, async ({ signal }) => {
    if (!opts.test) throw new UsageError('notify needs --test (it sends a test message to every channel)');
    const config = await loadConfig(o, project);
    if (!config.raw.notifications) throw new UsageError(`no notifications configured in ${config.file}`);
    const { runNotifyTest, formatResultsTable } = await import('../../notify/index.js');
    const results = await runNotifyTest(config.raw.notifications, { project: config.project, env: config.envName, user: await performer(config.dir), hosts: config.hosts.map((h) => h.id) }, { signal });
    if (o.json) printJson({ ok: results.every((r) => r.ok), results });
    else process.stdout.write(formatResultsTable(results) + '\n');
    return results.length > 0 && results.every((r) => r.ok) ? 0 : 1;
  });
};
