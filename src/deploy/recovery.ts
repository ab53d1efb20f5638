/**
 * A deploy that fails: before any switch, the new release is removed; after one, every switched
 * host goes back to the release it had (auto-rollback); a dropped connection is re-opened first
 * to learn where `current` really points.
 */
import { redact } from '../config/secrets.js';
import { ConnectionError, DeployError, EeError, InterruptedError, NeedsHumanError, type HostState } from '../errors.js';
import type { HistoryStatus } from '../history/record.js';
import { parseSwitch, switchScript } from '../remote/steps/switch.js';
import { layout } from '../remote/layout.js';
import { reconnectLost, type HostSession } from './session.js';
import { runChecks, notify } from './checks.js';
import { runNotifyExtras } from './notify-context.js';
import { eventFrom, finishAll, makeResult } from './records.js';
import { type Run, fromOf, hookEnv } from './run.js';
import { forEachLimited } from '../util/concurrency.js';
import { remoteOutput } from './hook-report.js';
import { failureText } from '../remote/protocol.js';

/**
 * Failure before every host was switched and checked: switched hosts go back to what they had,
 * the new release is removed everywhere, history records the failure, locks are released.
 */
export async function failBeforeDone(run: Run, e: unknown, reconnected = false): Promise<never> {
  const err = e instanceof EeError ? e : new DeployError(String((e as Error)?.message ?? e));
  if (err instanceof ConnectionError && !reconnected && !run.o.dryRun) return failAfterDrop(run, err);
  if (run.switched.length) return autoRollback(run, err);
  const status: HistoryStatus = err instanceof InterruptedError ? 'interrupted' : 'failed';
  const durationMs = Date.now() - run.started;
  await notifyFailure(run, err, status, durationMs);
  await finishAll(run, status, durationMs, { removeRelease: true, error: err.message });
  err.result = makeResult(run, status, durationMs);
  throw err;
}

/**
 * A connection dropped mid-run: reconnect to each host that lost it and look at `current`. A host
 * already on the new release (its switch ran, the answer was lost) counts as switched and goes
 * back with the others; then the usual cleanup runs over the new connection. Still exit 3, unless
 * a host whose switch was in flight stays unreachable: its `current` is unknown (exit 5).
 */
export async function failAfterDrop(run: Run, err: ConnectionError): Promise<never> {
  const { back, unreachable } = await reconnectLost(run.sessions, { interactive: run.o.interactive, reporter: run.o.reporter });
  for (const { s, current } of back) if (current === run.id && !run.switched.includes(s)) run.switched.push(s);
  const unknown = unreachable.filter((s) => run.outcomes.get(s.host.id)?.step === 'switch' && !run.switched.includes(s));
  try {
    return await failBeforeDone(run, err, true);
  } catch (x) {
    const ee = x instanceof EeError ? x : err;
    if (unknown.length && !(x instanceof NeedsHumanError)) {
      const states: HostState[] = unknown.map((s) => ({ host: s.host.id, state: `unreachable since the connection dropped during the switch: current is ${s.state.current ?? '(none)'} or ${run.id}` }));
      const human = new NeedsHumanError(redact(`${ee.message}; ${states.map((h) => `${h.host}: ${h.state}`).join('; ')} (check with \`ee-deploy releases\`)`), states);
      human.result = ee.result;
      throw human;
    }
    if (x instanceof DeployError) {
      // put back over a new connection: still a connection failure
      const conn = new ConnectionError(x.message, { host: x.host, step: x.step });
      conn.result = x.result;
      throw conn;
    }
    throw x;
  }
}

export async function notifyFailure(run: Run, err: EeError, status: HistoryStatus, durationMs: number): Promise<void> {
  if (run.o.dryRun) return;
  const level = status === 'rolled_back' ? 'rollback' : 'failure';
  const extras = await runNotifyExtras(run);
  await notify(run.o, { ...eventFrom(run, level, durationMs), ...extras.extra, error: err.message, host: err.host, status }, run.warnings, extras.ctx);
}

/**
 * Post-switch failure: every switched host goes back to the release it had before (after_rollback
 * hooks, post checks again), the new release is marked BAD_RELEASE. Exit 1, or 5 when that fails.
 */
export async function autoRollback(run: Run, cause: EeError): Promise<never> {
  const { o } = run;
  o.reporter.warn(`${cause.message}: rolling back`);
  const states: HostState[] = [];
  const back: HostSession[] = [];
  const stranded: HostSession[] = [];
  await forEachLimited(run.switched, o.config.env.max_parallel, async (s) => {
    const from = fromOf(run, s);
    // the release it had, else the server's previous release (the newest good one when there was no current)
    const prev = from && s.state.releases.some((r) => r.id === from) ? from : s.state.previous;
    if (!prev) {
      stranded.push(s);
      states.push({ host: s.host.id, state: `still on the new release ${run.id}: there is no previous release to roll back to`, current: run.id });
      return;
    }
    const r = await s.t.exec(switchScript({ root: s.host.path, id: prev, hooks: o.config.raw.hooks.after_rollback, hookEnv: { ...hookEnv(run, s), EE_RELEASE: prev, EE_FAILED_RELEASE: run.id }, phase: 'after_rollback', hooksTimeoutMs: o.config.raw.hooks_timeout }), {
      onStdout: remoteOutput(o.reporter, s.host.id, o.config.raw.hooks),
    }).catch((e: Error) => ({ code: -1, stdout: '', stderr: e.message }));
    const switchedBack = parseSwitch(r.stdout).switched === prev;
    const out = run.outcomes.get(s.host.id)!;
    if (switchedBack) {
      out.current = prev;
      back.push(s);
      if (r.code !== 0) states.push({ host: s.host.id, state: `back on ${prev}, but an after_rollback hook failed`, current: prev });
    } else {
      stranded.push(s);
      states.push({ host: s.host.id, state: `rollback to ${prev} failed (${redact(failureText(r) ?? `exit ${r.code}`)}); current is ${run.id}`, current: run.id });
    }
  });
  // the rolled-back state must pass the post checks too
  if (back.length && !(cause instanceof InterruptedError)) {
    const again = await runChecks(o, 'post', back.map((s) => ({ host: s.host.id, transport: s.t, cwd: layout(s.host.path).current })), { ignoreAbort: true });
    if (again) {
      run.health.push(again);
      if (!again.ok) for (const s of back) states.push({ host: s.host.id, state: `rolled back to ${run.outcomes.get(s.host.id)!.current}, but its post health checks fail too`, current: run.outcomes.get(s.host.id)!.current });
    }
  }
  for (const s of back) {
    const out = run.outcomes.get(s.host.id)!;
    if (!states.some((x) => x.host === s.host.id)) out.state = 'rolled_back';
    else out.state = 'needs_human';
  }
  for (const s of stranded) run.outcomes.get(s.host.id)!.state = 'needs_human';
  const durationMs = Date.now() - run.started;
  const needsHuman = states.length > 0;
  const status: HistoryStatus = needsHuman ? 'needs_human' : cause instanceof InterruptedError ? 'interrupted' : 'rolled_back';
  await notifyFailure(run, cause, needsHuman ? 'needs_human' : 'rolled_back', durationMs);
  await finishAll(run, status, durationMs, { markBad: true, removeRelease: true, error: cause.message });
  const result = makeResult(run, status, durationMs);
  if (needsHuman) {
    const summary = states.map((s) => `${s.host}: ${s.state}`).join('; ');
    const err = new NeedsHumanError(redact(`${cause.message}; automatic rollback failed: ${summary}`), states);
    err.result = result;
    throw err;
  }
  if (cause instanceof InterruptedError) {
    cause.result = result;
    throw cause;
  }
  const where = back.map((s) => `${s.host.id} -> ${run.outcomes.get(s.host.id)!.current}`).join(', ');
  const err = new DeployError(redact(`${cause.message}; rolled back (${where})`), { host: cause.host, step: cause.step });
  err.result = result;
  throw err;
}
