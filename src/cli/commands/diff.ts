/** `ee-deploy diff`: what a deploy now would change on each host. */
import type { Command } from 'commander';
import { lazyRun } from '../lazy.js';
import { formatBytes } from '../../util/format.js';
import { itemLines } from '../table.js';
import { EeError, ExitCode, type ExitCodeValue } from '../../errors.js';
import { diffHosts } from '../../integrity/diff.js';
import { globalOptions, isInteractive, loadConfig, printJson, selectHosts } from '../context.js';
import { runCommand } from '../run.js';

export function register(program: Command): void {
  program
    .command('diff [project]')
    .description('what a deploy now would add, change and remove on each host (paths, sizes, bytes to send); touches nothing')
    .option('--hosts <list>', 'only these hosts (comma-separated)')
    .option('--role <role>', 'only hosts with this role or tag')
    .option('--all', 'list every path (default: the first 50 per kind)')
    .addHelpText('after', `
Examples:
  ee-deploy diff -e production
  ee-deploy diff --json | jq '.hosts[].bytes'

The local source is compared as it is (source.build is not run).`)
    .action(lazyRun('diff'));
}

export const run = async (project: string | undefined, opts: { all?: boolean }, cmd: Command) => {
  const o = globalOptions(cmd);
  await runCommand(o, async () => {
    const config = await loadConfig(o, project);
    const res = await diffHosts(config, selectHosts(config, o), { interactive: isInteractive() });
    const doc = { project: config.project, env: config.envName, hosts: res };
    const failed = res.find((r) => r.state === 'error');
    if (o.json && !failed) printJson(doc);
    else if (!o.json)
      for (const r of res) {
        if (r.state === 'error') {
          process.stdout.write(`${r.host}: ERROR ${r.error}\n`);
          continue;
        }
        const head = r.state === 'same' ? 'no changes' : `${r.add!.length} to add, ${r.change!.length} to change, ${r.remove!.length} to remove, ${formatBytes(r.bytes!)} to send`;
        process.stdout.write(`${r.host}: ${r.release ? `against ${r.release}` : 'nothing deployed yet'}: ${head}${r.state === 'unknown' ? ` (${r.error})` : ''}\n`);
        const fmt = (x: { path: string; size: number }) => `${x.path} (${formatBytes(x.size)})`;
        process.stdout.write(itemLines('+', r.add!.map(fmt), !!opts.all) + itemLines('~', r.change!.map(fmt), !!opts.all) + itemLines('-', r.remove!.map(fmt), !!opts.all));
      }
    if (!failed) return 0;
    const err = new EeError(failed.error ?? `${failed.host}: unreachable`, (failed.exitCode ?? ExitCode.connection) as ExitCodeValue, { host: failed.host });
    err.result = doc;
    throw err;
  }, { readOnly: true });
};
