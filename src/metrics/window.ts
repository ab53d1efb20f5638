/** The metrics window: `--since 30d|ISO`, `--until ISO|duration ago`; defaults to the last 30 days. */
import { UsageError } from '../errors.js';

const UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `30d`, `12h`, `2w`, `90m` as ms, or undefined */
export function parseAgo(s: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$/.exec(s);
  return m ? Number(m[1]) * UNITS[m[2]] : undefined;
}

function parseTime(s: string, flag: string, relativeTo: number): number {
  const ago = parseAgo(s);
  if (ago !== undefined) return relativeTo - ago;
  // a date or a date-time; a bare date means its start, in UTC
  if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(s.trim())) {
    const t = Date.parse(s.trim());
    if (Number.isFinite(t)) return t;
  }
  throw new UsageError(`${flag}: expected a duration like 30d, 12h, 2w or an ISO time like 2026-11-01T00:00:00Z, got "${s}"`);
}

export function metricsWindow(o: { since?: string; until?: string }, now = Date.now()): { since: number; until: number } {
  const until = o.until !== undefined ? parseTime(o.until, '--until', now) : now;
  const since = parseTime(o.since ?? '30d', '--since', until);
  if (!(since < until)) throw new UsageError(`--since (${new Date(since).toISOString()}) must be before --until (${new Date(until).toISOString()})`);
  return { since, until };
}
