/**
 * `ee-deploy rollback`: switch `current` back to the previous complete release (or a named one)
 * on every host, run after_rollback hooks and the post health checks, record and notify.
 */
import { policyPreflight } from './policy-gate.js';
import { randomUUID } from 'node:crypto';
import { formatDuration } from '../config/duration.js';
import { redact } from '../config/secrets.js';
import { DeployError, EeError, InterruptedError, NeedsHumanError, UsageError, type HostState } from '../errors.js';
import { historyLine, rolledBackLine, type HistoryRecord, type HistoryStatus } from '../history/record.js';
import type { ResolvedHost } from '../config/resolve.js';
import { newLockInfo, serializeLock, unlockScript } from '../remote/steps/lock.js';
import { finishScript, parseFinish } from '../remote/steps/finish.js';
import { parseRollback, ROLLBACK_COMMIT, ROLLBACK_FROM, ROLLBACK_TO, rollbackScript } from '../remote/steps/rollback.js';
import { parseSwitch, switchScript } from '../remote/steps/switch.js';
import { failureReason, userOutput } from '../remote/protocol.js';
import type { Transport } from '../transport/types.js';
import { layout } from '../remote/layout.js';
import { lines } from '../remote/shell.js';
import { compareReleaseIds, isReleaseId } from '../remote/release-id.js';
import { notify, runChecks, type CheckOutcome } from './checks.js';
import { historyLoader } from './notify-context.js';
import type { RunOptions } from './context.js';
import { blueGreenRollback, blueGreenRollbackDone } from './traffic.js';
import { forEachLimited } from '../util/concurrency.js';
import { machineName, performer } from './identity.js';
import { previousRelease } from './plan.js';
import { remoteOutput } from './hook-report.js';
import { closeHosts, connectHosts, openSessions, releaseLocks, type HostSession, type Sessions } from './session.js';

export interface RollbackOptions extends RunOptions {
  /** explicit target release id; default: the previous release on each host */
  release?: string;
  message?: string;
  /** asked after the plan is known (TTY only); false = abort without changes */
  confirm?: (plan: RollbackPlanEntry[]) => Promise<boolean>;
}

export interface RollbackPlanEntry {
  host: string;
  from?: string;
  to: string;
}

export interface RollbackResult {
  ok: boolean;
  action: 'rollback';
  project: string;
  env: string;
  release: string;
  status: HistoryStatus | 'cancelled';
  user: string;
  durationMs: number;
  hosts: { host: string; from?: string; current?: string; state: string; error?: string }[];
  warnings: string[];
  health?: CheckOutcome[];
  dryRun?: boolean;
}

export async function rollback(o: RollbackOptions): Promise<RollbackResult> {
  const { config, reporter } = o;
  if (o.release !== undefined && !isReleaseId(o.release)) throw new UsageError(`invalid release id "${o.release}" (expected 14 digits, e.g. 20261122093000)`);
  const started = Date.now();
  const startedIso = new Date(started).toISOString();
  // the connections open while `git config user.name` runs (connecting changes nothing remote)
  const transports = connectHosts({ config, hosts: o.hosts ?? config.hosts, reporter, interactive: o.interactive, dryRun: o.dryRun });
  const user = await performer(config.dir, o.env).catch(async (e: unknown) => {
    await closeHosts(transports);
    throw e;
  });
  // policy: only `deployers` applies to a rollback (windows and freezes never block one)
  await policyPreflight({ config, hosts: o.hosts ?? config.hosts, interactive: o.interactive }, 'rollback', user, {}).catch(async (e: unknown) => {
    await closeHosts(transports);
    throw e;
  });
  const warnings: string[] = [];
  // one host, nothing to ask, no post checks: the whole rollback is one exec (oneExec); when
  // that script declines (lock held, unusual state), the usual open / switch / finish runs
  const selected = o.hosts ?? config.hosts;
  if (!o.dryRun && !o.confirm && selected.length === 1 && !config.raw.health_checks.some((c) => c.phase === 'post') && config.env.strategy !== 'blue_green') {
    const done = await oneExec(o, { host: selected[0], transports, user, started, startedIso, warnings }).catch(async (e: unknown) => {
      await closeHosts(transports);
      throw e;
    });
    if (done) {
      await closeHosts(transports);
      return done;
    }
  }
  const sessions = await openSessions({ config, hosts: o.hosts ?? config.hosts, reporter, user, command: 'rollback', interactive: o.interactive, dryRun: o.dryRun, lockWaitMs: o.lockWaitMs, message: o.message, signal: o.signal, transports });
  const health: CheckOutcome[] = [];
  try {
    await leaveBehindHosts(sessions, o);
    const plan = sessions.hosts.map((s) => ({ s, entry: planFor(s, o.release) }));
    const target = plan[0].entry.to;
    const result: RollbackResult = {
      ok: false,
      action: 'rollback',
      project: config.project,
      env: config.envName,
      release: target,
      status: 'cancelled',
      user,
      durationMs: 0,
      hosts: plan.map(({ entry }) => ({ host: entry.host, from: entry.from, current: entry.from, state: 'unchanged' })),
      warnings,
      dryRun: o.dryRun || undefined,
    };
    for (const { entry } of plan) reporter.info(`${entry.host}: ${entry.from ?? '(none)'} -> ${entry.to}`);
    if (o.confirm && !o.dryRun && !(await o.confirm(plan.map((p) => p.entry)))) {
      await releaseLocks(sessions);
      reporter.info('rollback cancelled; nothing was changed');
      result.durationMs = Date.now() - started;
      return result;
    }
    const failures: HostState[] = [];
    const runId = randomUUID();
    // when `current` switched on each host (the switch is the script's first action)
    const liveAt = new Map<HostSession, string>();
    const recordFor = (s: HostSession, entry: RollbackPlanEntry, status: HistoryStatus, durationMs: number, error?: string): HistoryRecord => ({
      project: config.project,
      run: runId,
      live_at: liveAt.get(s),
      id: entry.to,
      action: 'rollback',
      status,
      from: entry.from,
      // what is live now: the target release's REVISION (history rows and `releases` show it)
      commit: s.state.releases.find((r) => r.id === entry.to)?.revision,
      user,
      machine: machineName(),
      env: config.envName,
      started: startedIso,
      duration_ms: durationMs,
      message: o.message,
      error,
      warnings: warnings.length ? warnings : undefined,
      hosts: sessions.hosts.map((x) => x.host.id),
    });
    // one host and no post checks: the outcome is known when the switch exec ends, so that exec
    // also records history + revisions.log and releases the lock (skipped when the switch or a
    // hook fails: the script exits first, and the separate finish below records the failure)
    const mergeFinish = !o.dryRun && plan.length === 1 && !config.raw.health_checks.some((c) => c.phase === 'post');
    const finished = new Set<HostSession>();
    // blue-green: the upstream goes to a process on the target release before `current` moves
    const bgSwitches = await blueGreenRollback(o, plan.map(({ s, entry }) => ({ s, to: entry.to })));
    const step = reporter.step(`rolling back to ${new Set(plan.map((p) => p.entry.to)).size === 1 ? target : 'the previous releases'}`);
    await forEachLimited(plan, config.env.max_parallel, async ({ s, entry }) => {
      let cmd = switchScript({ root: s.host.path, id: entry.to, hooks: config.raw.hooks.after_rollback, hookEnv: { EE_PROJECT: config.project, EE_ENV: config.envName, EE_RELEASE: entry.to, EE_RELEASE_PATH: layout(s.host.path).release(entry.to), EE_DEPLOY_PATH: s.host.path, EE_PREVIOUS_RELEASE: entry.from ?? '', EE_HOST: s.host.id, EE_USER: user }, phase: 'after_rollback', clearBad: o.release !== undefined, hooksTimeoutMs: config.raw.hooks_timeout });
      const at = new Date().toISOString();
      if (mergeFinish) {
        // this line is written only once the switch succeeded
        liveAt.set(s, at);
        const record = recordFor(s, entry, 'success', Date.now() - started);
        cmd = lines(cmd, finishScript({ root: s.host.path, historyLine: historyLine(record), revisionsLine: rolledBackLine({ user, release: entry.to }), unlockToken: sessions.token }));
      }
      const r = await s.t.exec(cmd, { onStdout: remoteOutput(reporter, s.host.id, config.raw.hooks) }).catch((e: Error) => ({ code: -1, stdout: '', stderr: e.message }));
      if (parseSwitch(r.stdout).switched !== entry.to && !o.dryRun) liveAt.delete(s);
      if (mergeFinish && r.code === 0 && parseFinish(r.stdout).finished) {
        finished.add(s);
        s.locked = false;
      }
      const h = result.hosts.find((x) => x.host === s.host.id)!;
      if (parseSwitch(r.stdout).switched === entry.to || o.dryRun) {
        liveAt.set(s, at);
        h.current = entry.to;
        h.state = 'rolled_back';
      }
      if (r.code !== 0 && !o.dryRun) {
        const detail = redact(userOutput(r).split('\n').pop() ?? '');
        h.state = h.current === entry.to ? 'rolled_back, after_rollback hook failed' : 'failed';
        h.error = `${s.host.id}: ${h.current === entry.to ? 'after_rollback hook failed' : 'rollback failed'}${detail ? `: ${detail}` : ''}`;
        failures.push({ host: s.host.id, state: h.error, current: h.current });
      }
    });
    if (failures.length) step.fail('rollback failed');
    else step.succeed(`current -> ${target}${plan.length > 1 ? ` on ${plan.length} hosts` : ''}`);
    await blueGreenRollbackDone(o, bgSwitches, warnings);
    // an interrupt during the checks still records what happened: the switch is done
    let post: CheckOutcome | undefined;
    let interrupted: EeError | undefined;
    try {
      post = await runChecks(o, 'post', sessions.hosts.map((s) => ({ host: s.host.id, transport: s.t, cwd: layout(s.host.path).current })));
    } catch (e) {
      if (!o.signal?.aborted) throw e;
      interrupted = new InterruptedError(`interrupted during the post health checks; current is ${target}`);
    }
    if (post) health.push(post);
    const durationMs = Date.now() - started;
    const healthy = !post || post.ok;
    result.status = interrupted ? 'interrupted' : failures.length === 0 && healthy ? 'success' : 'failed';
    result.ok = result.status === 'success';
    result.durationMs = durationMs;
    result.health = health.length ? health : undefined;
    const error = failures[0]?.state ?? (post && !post.ok ? post.summary : interrupted?.message);
    if (!o.dryRun) {
      const notes = await notify(o, { level: result.ok ? 'rollback' : 'failure', action: 'rollback', user, release: target, previousRelease: plan[0].entry.from, hosts: sessions.hosts.map((s) => s.host.id), durationMs, status: result.status, error, run: startedIso, runStarted: startedIso }, warnings, { history: historyLoader(sessions.hosts) });
      void notes;
    }
    await forEachLimited(plan, config.env.max_parallel, async ({ s, entry }) => {
      if (finished.has(s)) return;
      const h = result.hosts.find((x) => x.host === s.host.id)!;
      const record = recordFor(s, entry, result.status as HistoryStatus, durationMs, error);
      const r = await s.t
        .exec(finishScript({ root: s.host.path, historyLine: historyLine(record), revisionsLine: h.current === entry.to ? rolledBackLine({ user, release: entry.to }) : undefined, unlockToken: sessions.token }))
        .catch((e: Error) => ({ code: -1, stdout: '', stderr: e.message }));
      if (r.code === 0) s.locked = false;
    });
    await releaseLocks(sessions);
    if (interrupted && !failures.length) {
      interrupted.result = result;
      throw interrupted;
    }
    if (failures.some((f) => f.current !== plan.find((p) => p.entry.host === f.host)?.entry.to)) {
      const err = new NeedsHumanError(redact(`rollback failed: ${failures.map((f) => f.state).join('; ')}`), failures);
      err.result = result;
      throw err;
    }
    if (!result.ok) {
      const err = new DeployError(redact(`rollback to ${target} done, but ${error}`));
      err.result = result;
      throw err;
    }
    reporter.success(`rolled back ${config.project} on ${config.envName} to ${target} (${formatDuration(durationMs)})${o.dryRun ? ' [dry run: nothing was changed]' : ''}`);
    return result;
  } catch (e) {
    await releaseLocks(sessions);
    throw e;
  } finally {
    await sessions.close();
  }
}

/** The single-exec rollback (rollbackScript); undefined when the script declined and nothing changed. */
async function oneExec(
  o: RollbackOptions,
  a: { host: ResolvedHost; transports: Promise<Map<string, Transport>>; user: string; started: number; startedIso: string; warnings: string[] },
): Promise<RollbackResult | undefined> {
  const { config, reporter } = o;
  const { host, user } = a;
  const t = (await a.transports).get(host.id)!;
  const lock = newLockInfo({ user, machine: machineName(), message: o.message, command: 'rollback', env: config.envName });
  const token = lock.token;
  const runId = randomUUID();
  const switchAt = new Date().toISOString();
  const record = (status: HistoryStatus, error?: string, live = true): HistoryRecord => ({
    project: config.project,
    run: runId,
    // the success line is written by the script only after its switch, which it makes first
    live_at: live ? switchAt : undefined,
    id: ROLLBACK_TO,
    action: 'rollback',
    status,
    from: ROLLBACK_FROM,
    commit: ROLLBACK_COMMIT,
    user,
    machine: machineName(),
    env: config.envName,
    started: a.startedIso,
    duration_ms: Date.now() - a.started,
    message: o.message,
    error,
    warnings: a.warnings.length ? a.warnings : undefined,
    hosts: [host.id],
  });
  const r = await t.exec(
    rollbackScript({
      root: host.path,
      lockInfo: serializeLock(lock),
      token,
      release: o.release,
      hooks: config.raw.hooks.after_rollback,
      hooksTimeoutMs: config.raw.hooks_timeout,
      hookEnv: { EE_PROJECT: config.project, EE_ENV: config.envName, EE_DEPLOY_PATH: host.path, EE_HOST: host.id, EE_USER: user },
      historyLine: historyLine(record('success')),
      revisionsPrefix: rolledBackLine({ user, release: '' }),
    }),
    { onStdout: remoteOutput(reporter, host.id, config.raw.hooks), signal: o.signal },
  );
  const answer = parseRollback(r.stdout);
  const plan = answer.plan;
  if (!plan) {
    if (r.code === 0 && answer.fallback !== undefined) return undefined;
    throw new DeployError(redact(`${host.id}: rollback failed: ${failureReason(r) ?? userOutput(r).split('\n').pop() ?? `exit ${r.code}`}`), { host: host.id, step: 'rollback' });
  }
  const { from, to } = plan;
  reporter.info(`${host.id}: ${from} -> ${to}`);
  const switched = answer.switched;
  const ok = r.code === 0 && answer.finished;
  const durationMs = Date.now() - a.started;
  const error = ok ? undefined : `${host.id}: ${switched ? 'after_rollback hook failed' : 'rollback failed'}${(failureReason(r) ?? userOutput(r).split('\n').pop()) ? `: ${redact(failureReason(r) ?? userOutput(r).split('\n').pop() ?? '')}` : ''}`;
  const result: RollbackResult = {
    ok,
    action: 'rollback',
    project: config.project,
    env: config.envName,
    release: to,
    status: ok ? 'success' : 'failed',
    user,
    durationMs,
    hosts: [{ host: host.id, from, current: switched ? to : from, state: ok ? 'rolled_back' : switched ? 'rolled_back, after_rollback hook failed' : 'failed', ...(error ? { error } : {}) }],
    warnings: a.warnings,
  };
  if (ok) reporter.success(`current -> ${to}`);
  await notify(o, { level: ok ? 'rollback' : 'failure', action: 'rollback', user, release: to, previousRelease: from, hosts: [host.id], durationMs, status: result.status, error, run: a.startedIso, runStarted: a.startedIso }, a.warnings, { history: historyLoader([{ t, host }]) });
  if (!ok) {
    // the script stopped with our lock held: record the failure and unlock
    const failed: HistoryRecord = { ...record('failed', error, switched), id: to, from, commit: undefined, duration_ms: durationMs };
    await t.exec(finishScript({ root: host.path, historyLine: historyLine(failed), revisionsLine: switched ? rolledBackLine({ user, release: to }) : undefined, unlockToken: token })).catch(() => undefined);
    if (!switched) {
      const err = new NeedsHumanError(redact(`rollback failed: ${error}`), [{ host: host.id, state: error ?? 'rollback failed', current: from }]);
      err.result = result;
      throw err;
    }
    const err = new DeployError(redact(`rollback to ${to} done, but ${error}`));
    err.result = result;
    throw err;
  }
  reporter.success(`rolled back ${config.project} on ${config.envName} to ${to} (${formatDuration(durationMs)})`);
  return result;
}

/**
 * A fleet caught between releases (after `deploy --canary-only`, or an interrupted rolling
 * deploy): a plain rollback moves only the hosts on the newest release, back to what the rest
 * of the fleet still runs; the hosts that never switched stay where they are (and are unlocked).
 */
async function leaveBehindHosts(sessions: Sessions, o: RollbackOptions): Promise<void> {
  if (o.release !== undefined) return;
  const currents = sessions.hosts.map((s) => s.state.current).filter((c): c is string => !!c && isReleaseId(c));
  if (new Set(currents).size < 2) return;
  const newest = currents.sort(compareReleaseIds).pop()!;
  const staying = sessions.hosts.filter((s) => s.state.current !== newest);
  for (const s of staying) {
    o.reporter.info(`${s.host.id}: stays on ${s.state.current ?? '(none)'} (only hosts on the newest release ${newest} are rolled back)`);
    if (s.locked && !o.dryRun) await s.t.exec(unlockScript(s.host.path, sessions.token)).catch(() => undefined);
    s.locked = false;
    await s.t.close().catch(() => undefined);
  }
  sessions.hosts = sessions.hosts.filter((s) => s.state.current === newest);
}

function planFor(s: HostSession, release: string | undefined): RollbackPlanEntry {
  const { state } = s;
  if (release) {
    if (!state.releases.some((r) => r.id === release)) {
      const known = state.releases.map((r) => r.id).slice(-5).join(', ') || 'none';
      throw new UsageError(`${s.host.id}: release ${release} does not exist (newest releases: ${known})`);
    }
    if (state.current === release) throw new UsageError(`${s.host.id}: release ${release} is already current`);
    return { host: s.host.id, from: state.current, to: release };
  }
  const prev = previousRelease(state.releases, state.current);
  if (!prev) {
    throw new EeError(`${s.host.id}: no previous release to roll back to (current: ${state.current ?? 'none'}; releases: ${state.releases.map((r) => r.id + (r.bad ? ' [bad]' : '')).join(', ') || 'none'})`, 1);
  }
  return { host: s.host.id, from: state.current, to: prev };
}
