/**
 * Retry settings of health checks: the merge of a check's own retries/timeout/backoff over
 * `health_defaults`. The delays and the retry loop are util/retry.ts.
 */
import type { HealthCheck, HealthDefaults } from '../config/schema.js';
import { EeError, InterruptedError } from '../errors.js';
import type { BackoffSettings } from '../util/retry.js';

export interface CheckSettings {
  /** per-attempt timeout, ms */
  timeout: number;
  /** attempts in total (>= 1) */
  retries: number;
  backoff: BackoffSettings;
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

/** `2000` -> `2.00s` */
export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)}s`;
}
