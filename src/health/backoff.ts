/**
 * Retry timing for health checks: the delays table (pure), the merge of a check's own
 * retries/timeout/backoff over `health_defaults`, and an abortable sleep.
 */
import type { HealthCheck, HealthDefaults } from '../config/schema.js';
import { EeError, InterruptedError } from '../errors.js';

export interface BackoffSettings {
  initial: number;
  factor: number;
  max: number;
  jitter: boolean;
}

export interface CheckSettings {
  /** per-attempt timeout, ms */
  timeout: number;
  /** attempts in total (>= 1) */
  retries: number;
  backoff: BackoffSettings;
}

/**
 * The delays (ms) to wait before attempts 2..retries: `retries - 1` numbers.
 * Delay before attempt n+1 = min(initial * factor^(n-1), max); with `jitter` each delay d becomes
 * a random value in [d/2, d] ("full jitter" bounded below by half, so retries never bunch up at 0).
 * `random` returns values in [0, 1) like Math.random (inject a seeded one in tests).
 */
export function backoffDelays(retries: number, backoff: BackoffSettings, random: () => number = Math.random): number[] {
  const n = Math.max(0, Math.floor(retries) - 1);
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

/** A check's own `retries`, `timeout` and `backoff` keys win over `health_defaults`. */
export function resolveCheckSettings(check: Pick<HealthCheck, 'timeout' | 'retries' | 'backoff'>, defaults: HealthDefaults): CheckSettings {
  const own: Partial<BackoffSettings> = {};
  const b = check.backoff;
  if (b?.initial !== undefined) own.initial = b.initial;
  if (b?.factor !== undefined) own.factor = b.factor;
  if (b?.max !== undefined) own.max = b.max;
  if (b?.jitter !== undefined) own.jitter = b.jitter;
  return {
    timeout: check.timeout ?? defaults.timeout,
    retries: check.retries ?? defaults.retries,
    backoff: { ...defaults.backoff, ...own },
  };
}

/** What an aborted run throws: the signal's reason when it is one of ours, else InterruptedError. */
export function abortError(signal: AbortSignal | undefined): EeError {
  const reason: unknown = signal?.reason;
  return reason instanceof EeError ? reason : new InterruptedError('health checks interrupted');
}

/** setTimeout as a promise that rejects at once (with `abortError`) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** `2000` -> `2.00s` */
export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)}s`;
}
