/**
 * The four keys (DORA) and deploy durations, computed from merged runs. Pure: no I/O, no clock
 * (the window comes in), so every number can be checked by hand in a test.
 */
import { STEP_NAMES, type StepName } from '../history/record.js';
import type { Run } from './runs.js';

export type Band = 'elite' | 'high' | 'medium' | 'low';

export interface MetricsReport {
  window: { since: string; until: string; days: number };
  deployments: number;
  failed: number;
  deployment_frequency: { per_day: number; per_week: number; band: Band };
  change_failure_rate: { value: number | null; band: Band | null };
  lead_time: { median_s: number | null; p90_s: number | null; band: Band | null };
  time_to_restore: { median_s: number | null; mean_s: number | null; unrestored: number; band: Band | null };
  duration: { p50_s: number | null; p90_s: number | null; max_s: number | null; steps: Record<StepName, number | null> };
  rollbacks: { manual: number; automatic: number };
}

/** What Prometheus needs beyond the report: the raw samples behind the summaries, whole-history counters. */
export interface MetricsDetail {
  leadTimes: number[];
  restoreTimes: number[];
  durations: number[];
  /** end of the latest successful deploy run (ms), whole history up to `until` */
  lastSuccess?: number;
  /** runs per action and status over the whole history */
  runsTotal: { action: string; status: string; count: number }[];
}

const DAY = 86_400_000;

/** Linear interpolation between closest ranks (numpy's default); `sorted` ascending, non-empty. */
export function quantile(sorted: number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

const asc = (xs: number[]) => [...xs].sort((a, b) => a - b);
const q = (xs: number[], p: number) => (xs.length ? quantile(asc(xs), p) : null);

export function frequencyBand(perDay: number): Band {
  return perDay >= 1 ? 'elite' : perDay >= 1 / 7 ? 'high' : perDay >= 1 / 30 ? 'medium' : 'low';
}
export function leadTimeBand(seconds: number): Band {
  return seconds < DAY / 1000 ? 'elite' : seconds < (7 * DAY) / 1000 ? 'high' : seconds < (30 * DAY) / 1000 ? 'medium' : 'low';
}
export function failureRateBand(ratio: number): Band {
  return ratio <= 0.05 ? 'elite' : ratio <= 0.1 ? 'high' : ratio <= 0.15 ? 'medium' : 'low';
}
export function restoreBand(seconds: number): Band {
  return seconds < 3600 ? 'elite' : seconds < DAY / 1000 ? 'high' : seconds < (7 * DAY) / 1000 ? 'medium' : 'low';
}

/** index of the first element >= x in ascending `xs` */
function firstAtOrAfter(xs: number[], x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const isDeployment = (r: Run) => r.action === 'deploy' && !r.promote && r.firstLive !== undefined;

/**
 * `runs`: the whole history, merged (runs.ts). Counted: the runs that started in [since, until).
 * Later events (rollbacks, restores) are looked for up to `until` only, so the same window gives
 * the same numbers however much history has been written since.
 */
export function computeMetrics(all: Run[], w: { since: number; until: number }): { report: MetricsReport; detail: MetricsDetail } {
  const runs = all.filter((r) => r.started < w.until).sort((a, b) => a.started - b.started);
  const inWindow = (r: Run) => r.started >= w.since && r.started < w.until;
  const liveDeploys = runs.filter(isDeployment).sort((a, b) => a.firstLive! - b.firstLive!);
  const order = new Map(liveDeploys.map((d, i) => [d, i]));
  const deployments = liveDeploys.filter(inWindow);

  // sorted lookups keep this linear-logarithmic: 10,000 runs must take milliseconds, not seconds
  const rollbackStarts = runs.filter((r) => r.action === 'rollback' && r.firstLive !== undefined).map((r) => r.started);
  const fixes = runs.filter((r) => r.status === 'success' && r.firstLive !== undefined);
  const fixStarts = fixes.map((r) => r.started);
  const failedSet = new Set<Run>();
  const restoreTimes: number[] = [];
  let unrestored = 0;
  for (const d of deployments) {
    const live = d.firstLive!;
    let n = order.get(d)! + 1;
    while (n < liveDeploys.length && liveDeploys[n].firstLive! <= live) n++;
    const nextLive = n < liveDeploys.length ? liveDeploys[n].firstLive! : Infinity;
    const r = firstAtOrAfter(rollbackStarts, live);
    const leftByRollback = r < rollbackStarts.length && rollbackStarts[r] < nextLive;
    if (!(d.status === 'rolled_back' || d.status === 'needs_human' || leftByRollback)) continue;
    failedSet.add(d);
    // healthy again: its own automatic rollback, else the next successful rollback or deployment
    let restoredAt: number | undefined;
    if (d.status === 'rolled_back') restoredAt = d.ended;
    else {
      let f = firstAtOrAfter(fixStarts, live);
      if (fixes[f] === d) f++;
      restoredAt = fixes[f]?.ended;
    }
    if (restoredAt === undefined) unrestored++;
    else restoreTimes.push(Math.max(0, restoredAt - live) / 1000);
  }

  const leadTimes: number[] = [];
  for (const d of deployments) {
    if (failedSet.has(d)) continue;
    const commits = d.changes ?? (d.commitTime !== undefined ? [{ time: d.commitTime }] : []);
    for (const c of commits) leadTimes.push(Math.max(0, d.firstLive! - c.time) / 1000);
  }

  const durations = deployments.map((d) => (d.ended - d.started) / 1000);
  const steps = Object.fromEntries(STEP_NAMES.map((k) => [k, q(deployments.filter((d) => d.steps[k] !== undefined).map((d) => d.steps[k]! / 1000), 0.5)])) as Record<StepName, number | null>;

  const days = (w.until - w.since) / DAY;
  const perDay = days > 0 ? deployments.length / days : 0;
  const cfr = deployments.length ? failedSet.size / deployments.length : null;
  const leadMedian = q(leadTimes, 0.5);
  const ttrMedian = q(restoreTimes, 0.5);

  const counts = new Map<string, number>();
  for (const r of all) counts.set(`${r.action}|${r.status}`, (counts.get(`${r.action}|${r.status}`) ?? 0) + 1);
  const lastSuccess = runs.filter((r) => r.action === 'deploy' && r.status === 'success' && r.firstLive !== undefined).reduce<number | undefined>((m, r) => (m === undefined || r.ended > m ? r.ended : m), undefined);

  const report: MetricsReport = {
    window: { since: new Date(w.since).toISOString(), until: new Date(w.until).toISOString(), days },
    deployments: deployments.length,
    failed: failedSet.size,
    deployment_frequency: { per_day: perDay, per_week: perDay * 7, band: frequencyBand(perDay) },
    change_failure_rate: { value: cfr, band: cfr === null ? null : failureRateBand(cfr) },
    lead_time: { median_s: leadMedian, p90_s: q(leadTimes, 0.9), band: leadMedian === null ? null : leadTimeBand(leadMedian) },
    time_to_restore: {
      median_s: ttrMedian,
      mean_s: restoreTimes.length ? restoreTimes.reduce((a, b) => a + b, 0) / restoreTimes.length : null,
      unrestored,
      band: ttrMedian === null ? null : restoreBand(ttrMedian),
    },
    duration: { p50_s: q(durations, 0.5), p90_s: q(durations, 0.9), max_s: q(durations, 1), steps },
    rollbacks: {
      manual: runs.filter((r) => inWindow(r) && r.action === 'rollback' && r.firstLive !== undefined).length,
      automatic: deployments.filter((d) => d.status === 'rolled_back').length,
    },
  };
  const runsTotal = [...counts].map(([k, count]) => ({ action: k.split('|')[0], status: k.split('|')[1], count })).sort((a, b) => (a.action + a.status < b.action + b.status ? -1 : 1));
  return { report, detail: { leadTimes, restoreTimes, durations, lastSuccess, runsTotal } };
}
