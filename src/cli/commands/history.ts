import type { Command } from 'commander';
import { formatDuration } from '../../config/duration.js';
import { inspectHosts, shortRevision } from '../../deploy/inspect.js';
import type { HistoryRecord } from '../../history/record.js';
import { UsageError } from '../../errors.js';
import { globalOptions, isInteractive, loadConfig, printJson, selectHosts } from '../context.js';
import { runCommand } from '../run.js';
import { table } from '../table.js';
import { lazyRun } from '../lazy.js';

export function register(program: Command): void {
  program
    .command('history [project]')
    .description('the deploy/rollback history recorded on the servers: id, action, status, duration, who, commit, message')
    .option('-n, --limit <n>', 'how many entries', '20')
    .option('--hosts <list>', 'only these hosts (comma-separated)')
    .option('--role <role>', 'only hosts with this role or tag')
    .addHelpText('after', `
Examples:
  ee-deploy history
  ee-deploy history shop -e production -n 50 --json`)
    .action(lazyRun('history'));
}

export const run = async (project: string | undefined, opts: { limit: string }, cmd: Command) => {
  const o = globalOptions(cmd);
  await runCommand(o, async () => {
    const limit = Number(opts.limit);
    if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit must be a positive whole number, got "${opts.limit}"`);
    const config = await loadConfig(o, project);
    const views = await inspectHosts(config, selectHosts(config, o), { interactive: isInteractive(), historyLimit: limit });
    // the fleet view: one row per run (same release, action and start), with the hosts it reached
    const runs = new Map<string, HistoryRecord & { on: string[] }>();
    for (const v of views)
      for (const h of v.history) {
        const key = `${h.action}|${h.id}|${h.started}`;
        const r = runs.get(key) ?? { ...h, on: [] };
        r.on.push(v.host);
        runs.set(key, r);
      }
    const entries = [...runs.values()].sort((a, b) => (a.started < b.started ? 1 : -1)).slice(0, limit);
    if (o.json) printJson({ project: config.project, env: config.envName, entries, errors: views.filter((v) => !v.ok).map((v) => ({ host: v.host, error: v.error })) });
    else {
      for (const v of views) if (!v.ok) process.stdout.write(`${v.host}: ERROR ${v.error}\n`);
      if (entries.length === 0) process.stdout.write('no history yet\n');
      else
        process.stdout.write(
          table(
            ['started', 'release', 'action', 'status', 'duration', 'who', 'commit', 'message'],
            entries.map((e) => [e.started.replace(/\.\d+Z$/, 'Z'), e.id, e.action, e.status === 'canary' && e.canary ? `canary (${e.canary.join(',')})` : e.promote ? `${e.status} (promote)` : e.status, formatDuration(e.duration_ms), e.user, shortRevision(e.commit), [e.message, e.error].filter(Boolean).join(' — ') + (views.length > 1 && e.on.length < views.length ? ` [${e.on.join(',')}]` : '')]),
          ),
        );
    }
    return views.some((v) => !v.ok) ? Math.max(...views.map((v) => v.exitCode ?? 0)) || 1 : 0;
  }, { readOnly: true });
};
