import type { Command } from 'commander';
import { inspectHosts, releaseAuthors, shortRevision, sortedReleases } from '../../deploy/inspect.js';
import { foreignNote } from '../../remote/steps/open.js';
import { printable } from '../../ui/reporter.js';
import { formatBytes } from '../../util/format.js';
import { globalOptions, isInteractive, loadConfig, printJson, selectHosts } from '../context.js';
import { runCommand } from '../run.js';
import { table } from '../table.js';
import { lazyRun } from '../lazy.js';

export function register(program: Command): void {
  program
    .command('releases [project]')
    .description('list releases per host: id, current marker, commit, who, when, size')
    .option('--hosts <list>', 'only these hosts (comma-separated)')
    .option('--role <role>', 'only hosts with this role or tag')
    .addHelpText('after', `
Examples:
  ee-deploy releases
  ee-deploy releases shop -e production --json`)
    .action(lazyRun('releases'));
}

export const run = async (project: string | undefined, _opts: unknown, cmd: Command) => {
  const o = globalOptions(cmd);
  await runCommand(o, async () => {
    const config = await loadConfig(o, project);
    const views = await inspectHosts(config, selectHosts(config, o), { interactive: isInteractive(), historyLimit: 200 });
    const hosts = views.map((v) => {
      const who = releaseAuthors(v.history);
      return {
        host: v.host,
        ok: v.ok,
        error: v.error,
        current: v.state?.current,
        ignored: v.state?.foreign ?? [],
        releases: sortedReleases(v)
          .reverse()
          .map((id) => {
            const r = v.state!.releases.find((x) => x.id === id)!;
            return { id, current: id === v.state?.current, bad: r.bad, commit: r.revision, user: who.get(id), time: v.sizes[id]?.time, size_kb: v.sizes[id]?.kb };
          }),
      };
    });
    const currents = new Set(hosts.filter((h) => h.ok).map((h) => h.current));
    const disagree = currents.size > 1;
    if (o.json) printJson({ project: config.project, env: config.envName, hosts, consistent: !disagree });
    else {
      for (const h of hosts) {
        process.stdout.write(`${h.host}${h.ok ? '' : `: ERROR ${h.error}`}\n`);
        if (!h.ok) continue;
        if (h.releases.length === 0) process.stdout.write('  (no releases)\n');
        else
          process.stdout.write(
            table(
              ['', 'release', 'commit', 'who', 'when', 'size'],
              h.releases.map((r) => [r.current ? '*' : r.bad ? '!' : '', r.id, shortRevision(r.commit), r.user ?? '', r.time ?? '', r.size_kb !== undefined ? formatBytes(r.size_kb * 1024) : '']),
              '  ',
            ),
          );
        const note = foreignNote(h.ignored);
        if (note) process.stdout.write(`  ${printable(note)}\n`);
      }
      process.stdout.write('* = current, ! = BAD_RELEASE (skipped by rollback)\n');
      if (disagree) process.stdout.write(`WARNING: hosts disagree on the current release: ${hosts.map((h) => `${h.host}=${h.current ?? 'none'}`).join(', ')}\n`);
    }
    return views.some((v) => !v.ok) ? Math.max(...views.map((v) => v.exitCode ?? 0)) || 1 : 0;
  }, { readOnly: true });
};
