/**
 * Fleet strategies, as pure planning (no I/O; unit-tested in test/unit/strategy.test.ts).
 *
 * A plan is a list of waves. Every wave is switched only once all of its hosts are prepared;
 * `prepare` says whether the whole fleet is prepared before the first switch (`parallel`,
 * `canary`: a host that fails to prepare leaves every `current` untouched) or each wave just
 * before its own switch (`rolling`: the upload / before_switch load is spread like the switch).
 *
 *   parallel  one wave with every host (the switch itself is bounded by max_parallel)
 *   rolling   waves of `batch` hosts (a number, or a percentage of the fleet, rounded up;
 *             default 1), `pause` between waves
 *   blue_green  like parallel (one wave); each host's switch is a process switch (deploy/traffic.ts)
 *   canary    the canary wave (`canary.hosts` hosts: those with a `canary` role or tag first,
 *             then config order) watched for `canary.wait`, then the rest (in waves of `batch`
 *             when set, `pause` between them)
 */

export type StrategyName = 'parallel' | 'rolling' | 'canary' | 'blue_green';

export interface StrategySettings {
  strategy: StrategyName;
  batch?: number | string;
  /** ms between waves */
  pause?: number;
  /** wait in ms */
  canary?: { hosts: number; wait: number };
}

export type WaveKind = 'all' | 'batch' | 'canary' | 'rest';

export interface Wave<T> {
  kind: WaveKind;
  hosts: T[];
  /** for progress and errors: `all hosts`, `batch 2/3`, `canary`, `rest`, `rest 1/2` */
  label: string;
  /** canary: keep re-running the post checks this long after the switch (0 = once) */
  watchMs: number;
  /** wait this long after this wave before the next (0 after the last) */
  pauseAfterMs: number;
}

export interface StrategyPlan<T> {
  strategy: StrategyName;
  prepare: 'upfront' | 'per-wave';
  waves: Wave<T>[];
}

/** Hosts per wave for `batch: N` or `batch: "25%"` (at least 1, at most `total`). */
export function batchSize(batch: number | string | undefined, total: number, fallback = 1): number {
  if (total <= 0) return 0;
  let n: number;
  if (batch === undefined) n = fallback;
  else if (typeof batch === 'number') n = batch;
  else {
    const m = /^(\d{1,3})%$/.exec(batch.trim());
    if (!m) throw new Error(`invalid batch ${JSON.stringify(batch)} (a number or a percentage like 25%)`);
    n = Math.ceil((total * Number(m[1])) / 100);
  }
  return Math.max(1, Math.min(total, Math.floor(n)));
}

export function chunk<T>(items: T[], size: number): T[][] {
  const n = Math.max(1, Math.floor(size));
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += n) out.push(items.slice(i, i + n));
  return out;
}

/** The first `n` hosts, those `preferred` (e.g. tagged `canary`) first, both in config order. */
export function splitCanary<T>(hosts: T[], n: number, preferred: (h: T) => boolean = () => false): { canary: T[]; rest: T[] } {
  const ordered = [...hosts.filter(preferred), ...hosts.filter((h) => !preferred(h))];
  const canary = ordered.slice(0, Math.max(1, Math.min(n, hosts.length)));
  return { canary, rest: hosts.filter((h) => !canary.includes(h)) };
}

export function planStrategy<T>(hosts: T[], s: StrategySettings, o: { preferCanary?: (h: T) => boolean } = {}): StrategyPlan<T> {
  const pause = Math.max(0, s.pause ?? 0);
  if (hosts.length === 0) return { strategy: s.strategy, prepare: 'upfront', waves: [] };
  const batches = (items: T[], kind: 'batch' | 'rest'): Wave<T>[] => {
    const groups = chunk(items, batchSize(s.batch, items.length, kind === 'rest' ? items.length : 1));
    return groups.map((g, i) => ({
      kind,
      hosts: g,
      label: groups.length === 1 ? (kind === 'rest' ? 'rest' : 'batch 1/1') : `${kind} ${i + 1}/${groups.length}`,
      watchMs: 0,
      pauseAfterMs: i < groups.length - 1 ? pause : 0,
    }));
  };
  switch (s.strategy) {
    case 'rolling':
      return { strategy: 'rolling', prepare: 'per-wave', waves: batches(hosts, 'batch') };
    case 'canary': {
      const { canary, rest } = splitCanary(hosts, s.canary?.hosts ?? 1, o.preferCanary);
      const first: Wave<T> = { kind: 'canary', hosts: canary, label: 'canary', watchMs: Math.max(0, s.canary?.wait ?? 0), pauseAfterMs: 0 };
      return { strategy: 'canary', prepare: 'upfront', waves: [first, ...batches(rest, 'rest')] };
    }
    default:
      return { strategy: s.strategy === 'blue_green' ? 'blue_green' : 'parallel', prepare: 'upfront', waves: [{ kind: 'all', hosts, label: 'all hosts', watchMs: 0, pauseAfterMs: 0 }] };
  }
}

/**
 * How often the canary's post checks re-run while it is watched: about ten rounds over `wait`,
 * never more often than every second nor less often than every 10 seconds.
 */
export function canaryCheckInterval(waitMs: number): number {
  return Math.min(10_000, Math.max(1000, Math.round(waitMs / 10)));
}

/** One line for the progress output, e.g. `rolling, 3 batches: a, b | c, d | e (pause 5s)`. */
export function describePlan<T>(plan: StrategyPlan<T>, name: (h: T) => string, fmt: (ms: number) => string = (ms) => `${ms}ms`): string {
  const waves = plan.waves.map((w) => `${w.kind === 'canary' ? 'canary ' : ''}${w.hosts.map(name).join(', ')}`).join(' | ');
  const pause = plan.waves.find((w) => w.pauseAfterMs > 0)?.pauseAfterMs;
  const watch = plan.waves.find((w) => w.watchMs > 0)?.watchMs;
  const extra = [watch ? `watch ${fmt(watch)}` : '', pause ? `pause ${fmt(pause)}` : ''].filter(Boolean).join(', ');
  const count = plan.strategy === 'rolling' ? `, ${plan.waves.length} batch${plan.waves.length === 1 ? '' : 'es'}` : '';
  return `${plan.strategy}${count}: ${waves}${extra ? ` (${extra})` : ''}`;
}
