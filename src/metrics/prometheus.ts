/**
 * Prometheus text exposition format (version 0.0.4) of a metrics report: what `--prometheus`
 * prints, the Pushgateway receives and node_exporter's textfile collector reads.
 */
import type { MetricsDetail, MetricsReport } from './compute.js';

export interface ReleaseInfo {
  host: string;
  release: string;
  commit?: string;
}

export interface ExpositionInput {
  project: string;
  env: string;
  report: MetricsReport;
  detail: MetricsDetail;
  /** the release `current` points at, per reachable host */
  releases: ReleaseInfo[];
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labels(l: Record<string, string>): string {
  return `{${Object.entries(l).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

function value(v: number | null | undefined): string {
  if (v === null || v === undefined || Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  // plenty for seconds and ratios; avoids 0.30000000000000004 in the output
  return String(Number(v.toPrecision(12)));
}

export function toPrometheus(x: ExpositionInput): string {
  const base = { project: x.project, env: x.env };
  const out: string[] = [];
  const family = (name: string, type: 'gauge' | 'counter' | 'summary', help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  const gauge = (name: string, help: string, v: number | null | undefined) => {
    family(name, 'gauge', help);
    out.push(`${name}${labels(base)} ${value(v)}`);
  };
  const summary = (name: string, help: string, samples: number[], quantiles: [number, number | null][]) => {
    family(name, 'summary', help);
    for (const [qn, v] of quantiles) out.push(`${name}${labels({ ...base, quantile: String(qn) })} ${value(v)}`);
    out.push(`${name}_sum${labels(base)} ${value(samples.reduce((a, b) => a + b, 0))}`, `${name}_count${labels(base)} ${samples.length}`);
  };
  const r = x.report;
  gauge('ee_deploy_deployments', 'Deploy runs that went live on at least one host, started in the window.', r.deployments);
  gauge('ee_deploy_failed_deployments', 'Deployments in the window that were rolled back or needed a human.', r.failed);
  gauge('ee_deploy_deployment_frequency_per_day', 'Deployments per day over the window.', r.deployment_frequency.per_day);
  gauge('ee_deploy_change_failure_ratio', 'Failed deployments / deployments in the window (NaN without deployments).', r.change_failure_rate.value);
  summary('ee_deploy_lead_time_seconds', 'Commit to live, per commit of each successful deployment in the window.', x.detail.leadTimes, [
    [0.5, r.lead_time.median_s],
    [0.9, r.lead_time.p90_s],
  ]);
  summary('ee_deploy_time_to_restore_seconds', 'From a failed deployment going live to the run that made the environment healthy again.', x.detail.restoreTimes, [[0.5, r.time_to_restore.median_s]]);
  summary('ee_deploy_duration_seconds', 'Wall time of the deployments in the window.', x.detail.durations, [
    [0.5, r.duration.p50_s],
    [0.9, r.duration.p90_s],
    [1, r.duration.max_s],
  ]);
  family('ee_deploy_last_success_timestamp_seconds', 'gauge', 'Unix time the last successful deploy run ended.');
  if (x.detail.lastSuccess !== undefined) out.push(`ee_deploy_last_success_timestamp_seconds${labels(base)} ${value(x.detail.lastSuccess / 1000)}`);
  family('ee_deploy_release_info', 'gauge', 'The release current points at on each host (always 1).');
  for (const rel of x.releases) out.push(`ee_deploy_release_info${labels({ ...base, host: rel.host, release: rel.release, commit: rel.commit ?? '' })} 1`);
  family('ee_deploy_runs_total', 'counter', 'Deploy and rollback runs in the whole history, by action and status.');
  for (const c of x.detail.runsTotal) out.push(`ee_deploy_runs_total${labels({ ...base, action: c.action, status: c.status })} ${c.count}`);
  return out.join('\n') + '\n';
}
