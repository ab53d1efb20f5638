/** Human-readable durations for the metrics table and the dashboard. */

/** 42s, 3m05s, 2h10m, 3d04h */
export function humanSeconds(s: number | null): string {
  if (s === null) return '-';
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)}s`;
  const m = Math.round(s / 60);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
  const h = Math.round(s / 3600);
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

