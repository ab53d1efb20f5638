import chalk from 'chalk';
import type { Command } from 'commander';
import type { Band, MetricsReport } from '../../metrics/compute.js';
import { metricsFrom, prometheusText, snapshotHosts } from '../../metrics/collect.js';
import { humanSeconds } from '../../metrics/format.js';
import { metricsWindow } from '../../metrics/window.js';
import { UsageError } from '../../errors.js';
import { globalOptions, isInteractive, loadConfig, printJson, useColor } from '../context.js';
import { lazyRun } from '../lazy.js';
import { runCommand } from '../run.js';
import { table } from '../table.js';

export function register(program: Command): void {
  program
    .command('metrics [project]')
    .description('DORA metrics from the servers\' history: deployment frequency, change failure rate, time to restore, lead time; durations, rollbacks')
    .option('--since <when>', 'start of the window: a duration back from --until (30d, 12h, 2w) or an ISO time', '30d')
    .option('--until <when>', 'end of the window: an ISO time (default now) or a duration back from now')
    .option('--prometheus', 'print Prometheus text exposition format instead of a table')
    .addHelpText(
      'after',
      `
Reads every host's history (one exec per host) and counts the runs that started in the window.

Examples:
  ee-deploy metrics                               last 30 days, ./ee-deploy.yaml
  ee-deploy metrics shop -e production --since 90d --json
  ee-deploy metrics shop --since 2026-10-01 --until 2026-11-01
  ee-deploy metrics shop --prometheus > /var/lib/node_exporter/textfile/shop.prom`,
    )
    .action(lazyRun('metrics'));
}

const round = (n: number, d = 2) => String(Number(n.toFixed(d)));

export function metricsTable(r: MetricsReport, color: boolean): string {
  const paint: Record<Band, (s: string) => string> = { elite: chalk.green, high: chalk.cyan, medium: chalk.yellow, low: chalk.red };
  const band = (b: Band | null) => (b === null ? '-' : color ? paint[b](b) : b);
  const st = r.duration.steps;
  const steps = (Object.keys(st) as (keyof typeof st)[]).filter((k) => st[k] !== null).map((k) => `${k} ${humanSeconds(st[k])}`).join(', ');
  const rows = [
    ['deployments', `${r.deployments} (${r.failed} failed)`, ''],
    ['deployment frequency', `${round(r.deployment_frequency.per_day)}/day, ${round(r.deployment_frequency.per_week)}/week`, band(r.deployment_frequency.band)],
    ['change failure rate', r.change_failure_rate.value === null ? '- (no deployments)' : `${round(r.change_failure_rate.value * 100, 1)}%`, band(r.change_failure_rate.band)],
    ['lead time for changes', r.lead_time.median_s === null ? '-' : `median ${humanSeconds(r.lead_time.median_s)}, p90 ${humanSeconds(r.lead_time.p90_s)}`, band(r.lead_time.band)],
    ['time to restore', `${r.time_to_restore.median_s === null ? '-' : `median ${humanSeconds(r.time_to_restore.median_s)}, mean ${humanSeconds(r.time_to_restore.mean_s)}`}${r.time_to_restore.unrestored ? `, ${r.time_to_restore.unrestored} not restored` : ''}`, band(r.time_to_restore.band)],
    ['deploy duration', r.duration.p50_s === null ? '-' : `p50 ${humanSeconds(r.duration.p50_s)}, p90 ${humanSeconds(r.duration.p90_s)}, max ${humanSeconds(r.duration.max_s)}`, ''],
    ['step medians', steps || '-', ''],
    ['rollbacks', `${r.rollbacks.manual} manual, ${r.rollbacks.automatic} automatic`, ''],
  ];
  return table(['metric', 'value', 'DORA band'], rows);
}

export const run = async (project: string | undefined, opts: { since?: string; until?: string; prometheus?: boolean }, cmd: Command) => {
  const o = globalOptions(cmd);
  await runCommand(o, async () => {
    if (o.json && opts.prometheus) throw new UsageError('--json and --prometheus exclude each other');
    const w = metricsWindow({ since: opts.since, until: opts.until });
    const config = await loadConfig(o, project);
    const snaps = await snapshotHosts(config, config.hosts, { interactive: isInteractive() });
    if (snaps.every((s) => !s.ok)) {
      const first = snaps[0];
      process.stderr.write(snaps.map((s) => `error: ${s.error}\n`).join(''));
      return first?.exitCode ?? 3;
    }
    const m = metricsFrom(config.project, config.envName, snaps, w);
    for (const warn of m.warnings) process.stderr.write(`warning: ${warn}\n`);
    if (o.json) printJson({ project: m.project, env: m.env, ...m.report, warnings: m.warnings });
    else if (opts.prometheus) process.stdout.write(prometheusText(m));
    else {
      const r = m.report;
      process.stdout.write(`${m.project} (${m.env}): ${r.window.since.slice(0, 16).replace('T', ' ')} .. ${r.window.until.slice(0, 16).replace('T', ' ')} UTC, ${round(r.window.days, 1)} days\n`);
      process.stdout.write(metricsTable(r, useColor(o)));
    }
    // what was printed covers the hosts that answered; a missing host is still a failure
    const down = snaps.find((s) => !s.ok);
    return down ? (down.exitCode ?? 3) : 0;
  }, { readOnly: true });
};
