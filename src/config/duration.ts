/** The longest duration a timer can wait (2^31-1 ms, about 596 hours); longer ones are refused. */
export const MAX_DURATION_MS = 2_147_483_647;

/** Durations as the config writes them: `500ms`, `5s`, `2m`, `1h` (or a bare number of ms). */
export function parseDuration(input: string | number): number | undefined {
  if (typeof input === 'number') return Number.isFinite(input) && input >= 0 && input <= MAX_DURATION_MS ? input : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/.exec(input);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  const ms = Math.round(n * unit);
  return Number.isFinite(ms) && ms <= MAX_DURATION_MS ? ms : undefined;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return `${m}m${s.toString().padStart(2, '0')}s`;
}
