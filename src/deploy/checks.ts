/** Glue between the pipeline and the health-check / notification engines. */
import type { HealthTarget } from '../health/index.js';
import type { DeployEvent, PastRun } from '../notify/index.js';
import { redact } from '../config/secrets.js';
import type { RunOptions } from './context.js';

export interface CheckOutcome {
  phase: 'pre' | 'post';
  ok: boolean;
  summary: string;
  results: unknown[];
  warnings: string[];
}

/** Runs the configured checks of `phase`; undefined when there are none (or in a dry run). */
export async function runChecks(o: RunOptions, phase: 'pre' | 'post', targets: HealthTarget[], opts: { ignoreAbort?: boolean } = {}): Promise<CheckOutcome | undefined> {
  const checks = o.config.raw.health_checks.filter((c) => c.phase === phase);
  if (checks.length === 0) return undefined;
  if (o.dryRun) {
    for (const c of checks) o.reporter.info(`[dry-run] ${phase} health check "${c.name}": ${c.http ?? c.script}`);
    return undefined;
  }
  const { runHealthChecks, summarizeFailure, formatAttempt } = await import('../health/index.js');
  const step = o.reporter.step(`${phase} health checks (${checks.map((c) => c.name).join(', ')})`);
  try {
    const report = await runHealthChecks(checks, o.config.raw.health_defaults, {
      phase,
      targets,
      signal: opts.ignoreAbort ? undefined : o.signal,
      onAttempt: (e) => {
        // the spinner shows the latest failure on a TTY; plain output gets each attempt once
        if (!e.record.ok && o.reporter.mode === 'tty') step.update(formatAttempt(e));
        if (!e.record.ok || o.reporter.verbose) o.reporter.info(formatAttempt(e));
      },
    });
    for (const w of report.warnings) o.reporter.warn(w);
    if (report.ok) step.succeed(`${phase} health checks passed`);
    else {
      step.fail(summarizeFailure(report));
      for (const r of report.results) if (!r.ok && r.output) o.reporter.info(`output of "${r.name}"${r.host ? ` on ${r.host}` : ''} (last lines):\n${r.output}`);
    }
    return { phase, ok: report.ok, summary: summarizeFailure(report), results: report.results, warnings: report.warnings };
  } catch (e) {
    step.fail(`${phase} health checks interrupted`);
    throw e;
  }
}

type EventInput = Omit<DeployEvent, 'project' | 'env' | 'timestamp' | 'url'> & Partial<Pick<DeployEvent, 'url'>>;

export interface NotifyContext {
  /** the environment's history on the servers (read only when suppress/escalate need it) */
  history?: () => Promise<PastRun[]>;
}

/**
 * Sends a notification; never throws and never fails the deploy. Failed channels become warnings
 * (printed, and returned in `warnings` for the JSON output and the history record).
 */
export async function notify(o: RunOptions, e: EventInput, warnings: string[], ctx: NotifyContext = {}): Promise<{ channel: string; ok: boolean; error?: string }[]> {
  const cfg = o.config.raw.notifications;
  if (!cfg) return [];
  const { sendNotifications } = await import('../notify/index.js');
  const event: DeployEvent = {
    project: o.config.project,
    env: o.config.envName,
    timestamp: new Date().toISOString(),
    url: o.config.raw.health_checks.find((c) => c.http)?.http,
    ...e,
    warnings: warnings.length ? [...warnings] : undefined,
  };
  try {
    const results = await sendNotifications(cfg, event, {
      history: ctx.history,
      onWarning: (w) => {
        warnings.push(w);
        o.reporter.warn(w);
      },
    });
    const held = results.filter((r) => r.skipped && r.reason && /^(suppressed|escalation)/.test(r.reason));
    if (held.length) o.reporter.info(`notifications held back: ${held.map((r) => `${r.channel} (${r.reason})`).join(', ')}`);
    const sent = results.filter((r) => !r.skipped);
    for (const r of sent) {
      if (!r.ok) {
        const w = redact(`notification ${r.channel} failed after ${r.attempts} attempt(s): ${r.error ?? 'unknown error'}`);
        warnings.push(w);
        o.reporter.warn(w);
      }
    }
    return sent.map((r) => ({ channel: r.channel, ok: r.ok, error: r.error }));
  } catch (err) {
    const w = redact(`notifications failed: ${(err as Error).message}`);
    warnings.push(w);
    o.reporter.warn(w);
    return [];
  }
}
