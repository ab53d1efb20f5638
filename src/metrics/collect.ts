/**
 * Reading the ground truth from the servers: one exec per host (current release, its commit, the
 * lock, the whole history), then the report computed from every host that answered.
 */
import type { ResolvedConfig, ResolvedHost } from '../config/resolve.js';
import { redact } from '../config/secrets.js';
import { EeError } from '../errors.js';
import { parseLock, type LockInfo } from '../remote/steps/lock.js';
import { insightScript, parseInsight } from '../remote/steps/insight.js';
import { openTransport } from '../transport/open.js';
import { forEachLimited } from '../util/concurrency.js';
import { computeMetrics, type MetricsDetail, type MetricsReport } from './compute.js';
import { toPrometheus, type ReleaseInfo } from './prometheus.js';
import { mergeRuns, parseHistoryText, type Run } from './runs.js';
import type { HistoryRecord } from '../history/record.js';
import { lastLine } from '../util/text.js';

export interface HostSnapshot {
  host: string;
  ok: boolean;
  error?: string;
  exitCode?: number;
  noLayout?: boolean;
  current?: string;
  commit?: string;
  /** held lock: its info when readable, `{}` when held without one */
  lock?: LockInfo | Record<string, never>;
  /** release ids on the host, with their BAD_RELEASE markers */
  releases: { id: string; bad: boolean }[];
  /** the rollback target: the previous release of `current`, as the server computes it */
  previous?: string;
  records: HistoryRecord[];
  corrupt: number;
}

/** A whole history can be large (10,000 records are a few MB): keep all of it. */
const MAX_HISTORY_BYTES = 512 * 1024 * 1024;

export async function snapshotHost(host: ResolvedHost, o: { interactive: boolean; connectTimeoutMs?: number }): Promise<HostSnapshot> {
  let t;
  try {
    t = await openTransport(host, { interactive: o.interactive, connectTimeoutMs: o.connectTimeoutMs });
    const r = await t.exec(insightScript(host.path), { readOnly: true, maxStdout: MAX_HISTORY_BYTES });
    if (r.code !== 0) throw new EeError(`${host.id}: reading ${host.path} failed: ${lastLine(r.stderr) || `exit ${r.code}`}`, 1, { host: host.id });
    const s = parseInsight(r.stdout);
    const h = parseHistoryText(s.historyText);
    return {
      host: host.id,
      ok: true,
      noLayout: s.noLayout,
      current: s.current,
      commit: s.revision,
      lock: s.lock === undefined ? undefined : (parseLock(s.lock) ?? {}),
      releases: s.releases,
      previous: s.previous,
      records: h.records,
      corrupt: h.corrupt,
    };
  } catch (e) {
    const ee = e instanceof EeError ? e : undefined;
    return { host: host.id, ok: false, error: redact((e as Error).message), exitCode: ee?.exitCode ?? 3, releases: [], records: [], corrupt: 0 };
  } finally {
    await t?.close().catch(() => {});
  }
}

export async function snapshotHosts(config: ResolvedConfig, hosts: ResolvedHost[], o: { interactive: boolean; connectTimeoutMs?: number }): Promise<HostSnapshot[]> {
  const out: HostSnapshot[] = new Array(hosts.length);
  await forEachLimited(
    hosts.map((h, i) => ({ h, i })),
    config.env.max_parallel,
    async ({ h, i }) => {
      out[i] = await snapshotHost(h, o);
    },
  );
  return out;
}

export interface MetricsResult {
  project: string;
  env: string;
  report: MetricsReport;
  detail: MetricsDetail;
  runs: Run[];
  releases: ReleaseInfo[];
  warnings: string[];
}

/** The report over the hosts that answered; a skipped line or an unreachable host is a warning. */
export function metricsFrom(project: string, env: string, snaps: HostSnapshot[], w: { since: number; until: number }): MetricsResult {
  const ok = snaps.filter((s) => s.ok);
  const runs = mergeRuns(ok.map((s) => ({ host: s.host, records: s.records })));
  const { report, detail } = computeMetrics(runs, w);
  const warnings: string[] = [];
  for (const s of snaps) {
    if (!s.ok) warnings.push(`${s.host}: not reachable, its history is left out: ${s.error}`);
    else if (s.corrupt) warnings.push(`${s.host}: skipped ${s.corrupt} unreadable history line${s.corrupt === 1 ? '' : 's'} (torn or corrupt)`);
  }
  const releases = ok.filter((s) => s.current).map((s) => ({ host: s.host, release: s.current!, commit: s.commit }));
  return { project, env, report, detail, runs, releases, warnings };
}

export function prometheusText(m: MetricsResult): string {
  return toPrometheus({ project: m.project, env: m.env, report: m.report, detail: m.detail, releases: m.releases });
}
