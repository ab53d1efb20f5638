/**
 * From history files to runs: tolerant parsing of each host's history.jsonl, then one `Run` per
 * deploy/rollback run, merged across the hosts it touched.
 */
import { STEP_NAMES, type HistoryAction, type HistoryRecord, type HistoryStatus, type StepName } from '../history/record.js';

export interface ParsedHistory {
  records: HistoryRecord[];
  /** lines that were not a readable record (torn by a killed writer, edited by hand...) */
  corrupt: number;
}

const ACTIONS: readonly string[] = ['deploy', 'rollback'];
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);
const isTime = (v: unknown): v is string => typeof v === 'string' && Number.isFinite(Date.parse(v));

/**
 * One record per line. A line that is not JSON, or lacks what every version wrote (`id`,
 * `action`, `started`), is counted as corrupt and skipped. Fields of the wrong type are dropped,
 * so one odd field never costs the whole record. Actions this version does not know are skipped
 * silently: a newer ee-deploy may add some.
 */
export function parseHistoryText(text: string): ParsedHistory {
  const records: HistoryRecord[] = [];
  let corrupt = 0;
  for (const line of text.split('\n')) {
    const t = line.endsWith('\r') || line.startsWith(' ') ? line.trim() : line;
    if (!t) continue;
    let v: Record<string, unknown>;
    try {
      v = JSON.parse(t) as Record<string, unknown>;
    } catch {
      corrupt++;
      continue;
    }
    if (!v || typeof v !== 'object' || Array.isArray(v) || !str(v.id) || !str(v.action) || !isTime(v.started)) {
      corrupt++;
      continue;
    }
    if (!ACTIONS.includes(v.action as string)) continue;
    records.push(sanitize(v));
  }
  return { records, corrupt };
}

/**
 * Fields of the wrong type are removed in place (no copy: a long history is tens of thousands of
 * records, and allocation dominated the time spent here).
 */
const STRING_FIELDS = ['status', 'from', 'project', 'env', 'run', 'user', 'machine', 'commit', 'branch', 'message', 'error'] as const;
const COUNT_FIELDS = ['bytes_sent', 'files_changed'] as const;

function sanitize(v: Record<string, unknown>): HistoryRecord {
  for (const k of STRING_FIELDS) {
    const x = v[k];
    if (x !== undefined && (typeof x !== 'string' || x === '')) delete v[k];
  }
  v.status ??= 'failed';
  v.env ??= '';
  v.user ??= 'unknown';
  v.machine ??= '';
  // times are checked for being times where they are read (mergeRuns): one Date.parse each
  if (v.commit_time !== undefined && typeof v.commit_time !== 'string') delete v.commit_time;
  if (v.live_at !== undefined && typeof v.live_at !== 'string') delete v.live_at;
  if (num(v.duration_ms) === undefined) v.duration_ms = 0;
  for (const k of COUNT_FIELDS) if (v[k] !== undefined && num(v[k]) === undefined) delete v[k];
  if (v.promote !== undefined && v.promote !== true) delete v.promote;
  if (v.steps !== undefined) {
    const st = v.steps as Record<string, unknown>;
    if (!st || typeof st !== 'object') delete v.steps;
    else {
      for (const k of Object.keys(st)) if (!(STEP_NAMES as readonly string[]).includes(k) || num(st[k]) === undefined) delete st[k];
      if (Object.keys(st).length === 0) delete v.steps;
    }
  }
  if (v.changes !== undefined) {
    const ch = v.changes;
    const ok = (c: unknown) => !!c && typeof c === 'object' && typeof (c as { sha?: unknown }).sha === 'string' && typeof (c as { time?: unknown }).time === 'string';
    if (!Array.isArray(ch)) delete v.changes;
    else if (!ch.every(ok)) v.changes = ch.filter(ok);
  }
  return v as unknown as HistoryRecord;
}

/** One deploy or rollback run, its records from every host merged. Times in ms since the epoch. */
export interface Run {
  key: string;
  action: HistoryAction;
  /** the worst status any host reported */
  status: HistoryStatus;
  id: string;
  from?: string;
  user: string;
  commit?: string;
  commitTime?: number;
  changes?: { sha: string; time: number }[];
  started: number;
  /** end of the run: the latest `started + duration_ms` over its hosts */
  ended: number;
  /** the first `live_at` over its hosts; undefined when `current` never switched to `id` */
  firstLive?: number;
  /** per-step time of the run: the slowest host's, as hosts work in parallel */
  steps: Partial<Record<StepName, number>>;
  hosts: string[];
  promote: boolean;
}

// worst first: a run is as bad as its worst host
const SEVERITY: HistoryStatus[] = ['needs_human', 'rolled_back', 'failed', 'interrupted', 'canary', 'success'];

/**
 * Records without a `run` field come from versions that wrote the same `started` on every host
 * of a run: they are grouped by action, release and start instead. Such records also lack
 * `live_at`; they count as live from their start when their status says the release went out
 * (success, canary) or was taken back after going out (rolled_back, needs_human).
 */
export function mergeRuns(hosts: { host: string; records: HistoryRecord[] }[]): Run[] {
  const runs = new Map<string, Run>();
  for (const { host, records } of hosts)
    for (const r of records) {
      const key = r.run ? `run:${r.run}` : `old:${r.action}|${r.id}|${r.started}`;
      const started = Date.parse(r.started);
      const ended = started + r.duration_ms;
      const liveAt = r.live_at ? Date.parse(r.live_at) : NaN;
      const live = Number.isFinite(liveAt) ? liveAt : !r.run && !r.live_at && ['success', 'canary', 'rolled_back', 'needs_human'].includes(r.status) ? started : undefined;
      let run = runs.get(key);
      if (!run) {
        // every field present from the start: one object shape for all runs keeps this loop fast
        run = { key, action: r.action, status: r.status, id: r.id, from: r.from, user: r.user, commit: r.commit, commitTime: undefined, changes: undefined, started, ended, firstLive: undefined, steps: {}, hosts: [], promote: !!r.promote };
        runs.set(key, run);
      }
      if (!run.hosts.includes(host)) run.hosts.push(host);
      if (r.status !== run.status && SEVERITY.indexOf(r.status) !== -1 && (SEVERITY.indexOf(run.status) === -1 || SEVERITY.indexOf(r.status) < SEVERITY.indexOf(run.status))) run.status = r.status;
      run.started = Math.min(run.started, started);
      run.ended = Math.max(run.ended, ended);
      if (live !== undefined && (run.firstLive === undefined || live < run.firstLive)) run.firstLive = live;
      run.from ??= r.from;
      run.commit ??= r.commit;
      if (run.commitTime === undefined && r.commit_time && Number.isFinite(Date.parse(r.commit_time))) run.commitTime = Date.parse(r.commit_time);
      if (run.changes === undefined && r.changes) run.changes = r.changes.map((c) => ({ sha: c.sha, time: Date.parse(c.time) })).filter((c) => Number.isFinite(c.time));
      if (r.steps)
        for (const k of STEP_NAMES) {
          const v = r.steps[k];
          if (v !== undefined) run.steps[k] = Math.max(run.steps[k] ?? 0, v);
        }
    }
  return [...runs.values()].sort((a, b) => a.started - b.started || (a.key < b.key ? -1 : 1));
}
