/**
 * The one retry engine (health checks, notification channels): attempts separated by a table of
 * delays, stopped early by an outcome that is final, by a spent budget or by an abort. It never
 * throws by itself (an attempt that throws propagates) and says whether it was aborted: what an
 * abort means is the caller's decision.
 */
import { sleep } from './sleep.js';

export interface BackoffSettings {
  initial: number;
  factor: number;
  max: number;
  jitter: boolean;
}

/**
 * The delays (ms) to wait before attempts 2..attempts: `attempts - 1` numbers.
 * Delay before attempt n+1 = min(initial * factor^(n-1), max); with `jitter` each delay d becomes
 * a random value in [d/2, d] ("full jitter" bounded below by half, so retries never bunch up at 0).
 * `random` returns values in [0, 1) like Math.random (inject a seeded one in tests).
 */
export function backoffDelays(attempts: number, backoff: BackoffSettings, random: () => number = Math.random): number[] {
  const n = Math.max(0, Math.floor(attempts) - 1);
  const initial = Math.max(0, backoff.initial);
  const max = Math.max(0, backoff.max);
  const factor = Math.max(1, backoff.factor);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const grown = initial * Math.pow(factor, i);
    const d = Math.min(Number.isFinite(grown) ? grown : max, max);
    if (!backoff.jitter) {
      out.push(Math.round(d));
      continue;
    }
    const r = Math.min(Math.max(random(), 0), 1);
    // round inside the bounds: ceil(d/2) .. floor(d)
    out.push(Math.min(Math.floor(d), Math.max(Math.ceil(d / 2), Math.round(d / 2 + r * (d / 2)))));
  }
  return out;
}

export interface RetryOptions<T> {
  /** the pauses before attempts 2, 3, ...: at most `delays.length + 1` attempts */
  delays: readonly number[];
  signal?: AbortSignal;
  /** one attempt (n is 1-based) */
  attempt: (n: number) => Promise<T>;
  /** true when this outcome ends the run: a success, or a failure not worth retrying */
  final: (outcome: T) => boolean;
  /** after each attempt, with the pause before the next one (undefined: there is none) */
  onAttempt?: (outcome: T, n: number, nextDelayMs: number | undefined) => void;
  /** asked after each pause: false stops before the next attempt (e.g. the time budget is spent) */
  worthAnother?: () => boolean;
}

export interface RetryResult<T> {
  /** attempts made */
  attempts: number;
  /** the last attempt's outcome (undefined when none ran) */
  last: T | undefined;
  /** the signal aborted: before an attempt, during one, or during a pause */
  aborted: boolean;
}

export async function retry<T>(o: RetryOptions<T>): Promise<RetryResult<T>> {
  let last: T | undefined;
  let n = 0;
  while (n <= o.delays.length) {
    if (n > 0) {
      await sleep(o.delays[n - 1], o.signal);
      if (o.worthAnother && !o.worthAnother()) break;
    }
    if (o.signal?.aborted) return { attempts: n, last, aborted: true };
    n++;
    last = await o.attempt(n);
    if (o.signal?.aborted) return { attempts: n, last, aborted: true };
    const stop = o.final(last) || n > o.delays.length;
    o.onAttempt?.(last, n, stop ? undefined : o.delays[n - 1]);
    if (stop) break;
  }
  return { attempts: n, last, aborted: false };
}
