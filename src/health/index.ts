/**
 * The health-check engine (`health_checks` / `health_defaults` in the config).
 *
 * - `http` checks are requested from the deploying machine (undici), once per check.
 * - `script` checks run on every target host through its Transport, in the directory the caller
 *   passes (`current` for post checks, the new release for pre checks).
 * - Checks run concurrently with each other (script checks also across hosts); the attempts of
 *   one check are sequential, `retries` attempts in total, with exponential backoff between them.
 * - An AbortSignal stops everything at once: `runHealthChecks` then rejects with the signal's
 *   reason when it is an EeError, else with an InterruptedError (exit 130), so the caller can
 *   roll back.
 * All text in the report is redacted.
 */
import type { HealthCheck, HealthDefaults } from '../config/schema.js';
import type { Transport } from '../transport/types.js';
import { redact } from '../config/secrets.js';
import { backoffDelays, retry } from '../util/retry.js';
import { oneLine } from '../util/text.js';
import { abortError, formatSeconds, resolveCheckSettings, type CheckSettings } from './backoff.js';
import { createHttpAgent, httpAttempt, type AttemptOutcome } from './http.js';
import { scriptAttempt, type ScriptOutcome } from './script.js';

export { resolveCheckSettings, formatSeconds } from './backoff.js';
export { backoffDelays, type BackoffSettings } from '../util/retry.js';
export type { CheckSettings } from './backoff.js';
export { scriptCommand, lastLines } from './script.js';

export interface HealthTarget {
  host: string;
  transport: Transport;
  /** where script checks run: `current` (post) or the new release (pre) */
  cwd: string;
}

export interface AttemptRecord {
  /** 1-based */
  attempt: number;
  ok: boolean;
  /** Date.now() when the attempt started */
  startedAt: number;
  durationMs: number;
  /** set on a failed attempt that will be retried */
  delayBeforeNextMs?: number;
  /** one line: `HTTP 200`, `HTTP 500`, `exit 1`, `timed out after 5.00s`, ... */
  detail: string;
}

export interface CheckResult {
  name: string;
  kind: 'http' | 'script';
  /** script checks: one result per host */
  host?: string;
  url?: string;
  ok: boolean;
  attempts: AttemptRecord[];
  /** one line: the last attempt's detail, when the check failed */
  error?: string;
  /** script checks that failed: the last 20 lines of combined output */
  output?: string;
}

export interface HealthReport {
  ok: boolean;
  phase: 'pre' | 'post';
  results: CheckResult[];
  /** for the caller to print, e.g. TLS verification disabled */
  warnings: string[];
}

export interface AttemptEvent {
  check: string;
  host?: string;
  record: AttemptRecord;
  maxAttempts: number;
}

export interface HealthContext {
  phase: 'pre' | 'post';
  targets: HealthTarget[];
  onAttempt?: (event: AttemptEvent) => void;
  signal?: AbortSignal;
  /** for tests: jitter source, like Math.random */
  random?: () => number;
}

/** `homepage: attempt 2/3 failed (HTTP 500), retrying in 2.00s` — `worker [web1]: ...` for script checks. */
export function formatAttempt(e: AttemptEvent): string {
  const who = e.host ? `${e.check} [${e.host}]` : e.check;
  const r = e.record;
  const head = `${who}: attempt ${r.attempt}/${e.maxAttempts} ${r.ok ? 'ok' : 'failed'} (${r.detail})`;
  return redact(r.delayBeforeNextMs !== undefined ? `${head}, retrying in ${formatSeconds(r.delayBeforeNextMs)}` : head);
}

/** Run the checks of `ctx.phase`. Resolves with the report (ok = every result ok); rejects only when aborted. */
export async function runHealthChecks(checks: HealthCheck[], defaults: HealthDefaults, ctx: HealthContext): Promise<HealthReport> {
  const { signal } = ctx;
  if (signal?.aborted) throw abortError(signal);
  const selected = checks.filter((c) => (c.phase ?? 'post') === ctx.phase);
  const warnings: string[] = [];
  const runs: Promise<CheckResult>[] = [];
  for (const check of selected) {
    const settings = resolveCheckSettings(check, defaults);
    if (check.http) {
      if (check.insecure) warnings.push(redact(`health check "${check.name}": TLS certificate verification is disabled (insecure: true) for ${check.http}`));
      if (check.method === 'HEAD' && check.expect?.body_contains) warnings.push(redact(`health check "${check.name}": method HEAD has no body, so body_contains can never match`));
      runs.push(runHttpCheck(check, settings, ctx));
    } else if (check.script) {
      for (const target of ctx.targets) runs.push(runScriptCheck(check, settings, target, ctx));
    }
  }
  const results = await Promise.all(runs);
  return { ok: results.every((r) => r.ok), phase: ctx.phase, results, warnings };
}

/** One line for error messages and notifications, e.g. `health check "homepage" failed after 3 attempts: HTTP 500`. */
export function summarizeFailure(report: HealthReport): string {
  const failed = report.results.filter((r) => !r.ok);
  if (failed.length === 0) return `all ${report.phase} health checks passed`;
  const f = failed[0];
  const n = f.attempts.length;
  const where = f.host ? ` on ${f.host}` : '';
  let line = `health check "${f.name}" failed${where} after ${n} attempt${n === 1 ? '' : 's'}: ${f.error ?? 'failed'}`;
  if (failed.length > 1) line += ` (and ${failed.length - 1} more failed check${failed.length === 2 ? '' : 's'})`;
  return redact(oneLine(line));
}

async function runHttpCheck(check: HealthCheck, settings: CheckSettings, ctx: HealthContext): Promise<CheckResult> {
  const agent = createHttpAgent(check, settings.timeout);
  try {
    const result = await attemptLoop(check.name, undefined, settings, ctx, () => httpAttempt(check, agent, settings.timeout, ctx.signal));
    return { ...result, kind: 'http', url: redact(check.http!) };
  } finally {
    agent.destroy().catch(() => {});
  }
}

async function runScriptCheck(check: HealthCheck, settings: CheckSettings, target: HealthTarget, ctx: HealthContext): Promise<CheckResult> {
  const result = await attemptLoop(check.name, target.host, settings, ctx, () => scriptAttempt(target.transport, target.cwd, check.script!, settings.timeout, ctx.signal));
  return { ...result, kind: 'script', host: target.host };
}

async function attemptLoop(
  name: string,
  host: string | undefined,
  settings: CheckSettings,
  ctx: HealthContext,
  attempt: () => Promise<AttemptOutcome & { output?: string }>,
): Promise<Omit<CheckResult, 'kind'>> {
  const { signal } = ctx;
  const attempts: AttemptRecord[] = [];
  let startedAt = 0;
  let t0 = 0;
  const run = await retry<ScriptOutcome>({
    delays: backoffDelays(settings.retries, settings.backoff, ctx.random),
    signal,
    attempt: async () => {
      startedAt = Date.now();
      t0 = performance.now();
      const outcome = await attempt();
      if (outcome.aborted) throw abortError(signal);
      return outcome;
    },
    final: (outcome) => outcome.ok,
    onAttempt: (outcome, n, nextDelayMs) => {
      const record: AttemptRecord = { attempt: n, ok: outcome.ok, startedAt, durationMs: Math.round(performance.now() - t0), detail: redact(oneLine(outcome.detail)) };
      if (nextDelayMs !== undefined) record.delayBeforeNextMs = nextDelayMs;
      attempts.push(record);
      ctx.onAttempt?.({ check: name, host, record, maxAttempts: settings.retries });
    },
  });
  // an abort ends the checks at once: the caller rolls back
  if (run.aborted) throw abortError(signal);
  const last: ScriptOutcome = run.last ?? { ok: false, detail: 'not run' };
  const ok = last.ok;
  const result: Omit<CheckResult, 'kind'> = { name, ok, attempts };
  if (!ok) {
    result.error = attempts[attempts.length - 1]?.detail ?? 'not run';
    if (last.output) result.output = redact(last.output);
  }
  return result;
}
