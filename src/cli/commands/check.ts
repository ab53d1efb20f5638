import type { Command } from 'commander';
import { runChecks } from '../../deploy/checks.js';
import { formatBytes } from '../../util/format.js';
import { inspectHosts } from '../../deploy/inspect.js';
import { describeHolder } from '../../remote/steps/lock.js';
import { layout } from '../../remote/layout.js';
import { openTransport } from '../../transport/open.js';
import { globalOptions, isInteractive, loadConfig, printJson, reporterFor, selectHosts } from '../context.js';
import { runCommand } from '../run.js';
import { table } from '../table.js';
import { scanSource } from '../../release/scan.js';
import { lazyRun } from '../lazy.js';
import { foreignNote } from '../../remote/steps/open.js';

export function register(program: Command): void {
  program
    .command('check [project]')
    .description('validate the config, connect to every host (host key, auth), check path, disk, sh/tar, lock; --health runs the post checks against the live release')
    .option('--health', 'also run the post health checks against `current` (no deploy)')
    .option('--hosts <list>', 'only these hosts (comma-separated)')
    .option('--role <role>', 'only hosts with this role or tag')
    .addHelpText('after', `
Examples:
  ee-deploy check                     is everything ready to deploy?
  ee-deploy check -e production --health --json`)
    .action(lazyRun('check'));
}

export const run = async (project: string | undefined, opts: { health?: boolean }, cmd: Command) => {
  const o = globalOptions(cmd);
  await runCommand(o, async ({ signal }) => {
    const config = await loadConfig(o, project);
    const hosts = selectHosts(config, o);
    const tree = await scanSource(config.sourceDir, config.raw.source.exclude).catch(() => undefined);
    const views = await inspectHosts(config, hosts, { interactive: isInteractive(), historyLimit: 1, checkWritable: true });
    const rows = views.map((v) => {
      const problems: string[] = [];
      const warnings: string[] = [];
      if (!v.ok) problems.push(v.error ?? 'failed');
      else {
        if (v.writable === false) problems.push(`path not writable`);
        if (v.state?.missingTools.length) problems.push(`missing: ${v.state.missingTools.join(', ')}`);
        if (v.state?.foreign.length) warnings.push(foreignNote(v.state.foreign)!);
        if (v.state?.lock.status === 'held') warnings.push(`locked by ${v.lock ? describeHolder(v.lock) : 'an unknown holder'}`);
        const kb = v.state?.availableKb;
        if (tree && kb !== undefined && kb * 1024 < tree.totalBytes * 2) warnings.push(`low disk: ${formatBytes(kb * 1024)} free, under 2x the release size (${formatBytes(tree.totalBytes)})`);
      }
      return {
        host: v.host,
        ok: problems.length === 0,
        connection: v.ok ? 'ok' : 'FAILED',
        current: v.state?.current,
        releases: v.state?.releases.length ?? 0,
        free: v.state?.availableKb !== undefined ? formatBytes(v.state.availableKb * 1024) : undefined,
        lock: v.state?.lock.status === 'held' ? 'held' : 'free',
        problems,
        warnings,
        exitCode: v.exitCode,
      };
    });
    let health;
    if (opts.health && rows.every((r) => r.connection === 'ok')) {
      const reporter = await reporterFor(o);
      const transports = await Promise.all(hosts.map((h) => openTransport(h, { interactive: isInteractive() })));
      try {
        health = await runChecks({ config, reporter, interactive: isInteractive(), signal }, 'post', hosts.map((h, i) => ({ host: h.id, transport: transports[i], cwd: layout(h.path).current })));
      } finally {
        await Promise.allSettled(transports.map((t) => t.close()));
        reporter.stop();
      }
    }
    const ok = rows.every((r) => r.ok) && (!health || health.ok);
    if (o.json) printJson({ ok, project: config.project, env: config.envName, config: config.file, hosts: rows, health });
    else {
      process.stdout.write(`config ${config.file}: ok (project ${config.project}, environment ${config.envName})\n`);
      process.stdout.write(
        table(
          ['host', 'connect', 'current', 'releases', 'free', 'lock', 'result'],
          rows.map((r) => [r.host, r.connection, r.current ?? '-', String(r.releases), r.free ?? '-', r.lock, r.ok ? (r.warnings.length ? `WARN ${r.warnings.join('; ')}` : 'ok') : `FAIL ${r.problems.join('; ')}`]),
        ),
      );
      if (health) process.stdout.write(`health: ${health.ok ? 'ok' : health.summary}\n`);
    }
    if (rows.some((r) => r.connection !== 'ok')) return Math.max(...rows.map((r) => r.exitCode ?? 0)) || 3;
    return ok ? 0 : 1;
  }, { readOnly: true });
};
