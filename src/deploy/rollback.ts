/**
 * `ee-deploy rollback`: switch `current` back to the previous complete release (or a named one)
 * on every host, run after_rollback hooks and the post health checks, record and notify.
 *
 * One path: the rollback step (remote/steps/rollback.ts) picks the target, switches and runs the
 * hooks on each host; when the outcome is known as that exec ends (one host, no post checks) it
 * also records and unlocks. Before it, the hosts are opened (lock + state) when the plan must be
 * known first: to ask for confirmation, for a fleet (all locks or none; hosts left behind), for a
 * dry run. A single host with nothing to ask skips that: the step takes the lock itself, and the
 * whole rollback is one exec; if it declines (lock held, nothing to roll back to...), the hosts
 * are opened the usual way, which reports why.
 */
import { randomUUID } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { formatDuration } from '../config/duration.js';
import { redact } from '../config/secrets.js';
import type { ResolvedHost } from '../config/resolve.js';
import { DeployError, EeError, InterruptedError, NeedsHumanError, UsageError, type HostState } from '../errors.js';
import { writtenHistoryLine, rolledBackLine, type HistoryRecord, type HistoryStatus } from '../history/record.js';
import { layout } from '../remote/layout.js';
import { failureText } from '../remote/protocol.js';
import { compareReleaseIds, isReleaseId } from '../remote/release-id.js';
import { finishScript } from '../remote/steps/finish.js';
import { newLockInfo, serializeLock, unlockScript, type LockInfo } from '../remote/steps/lock.js';
import { emptyState } from '../remote/steps/open.js';
import { parseRollback, rollbackScript, SignWatch } from '../remote/steps/rollback.js';
import type { Transport } from '../transport/types.js';
import { forEachLimited } from '../util/concurrency.js';
import { notify, runChecks, type CheckOutcome } from './checks.js';
import { remoteOutput } from './hook-report.js';
import { historyLoader } from './notify-context.js';
import { policyPreflight } from './policy-gate.js';
import { blueGreenRollback, blueGreenRollbackDone } from './traffic.js';
import type { RunOptions } from './context.js';
import { machineName, performer } from './identity.js';
import { dbHost, restoreBackup } from './db-steps.js';
import { closeHosts, connectHosts, openSessions, releaseLocks, type HostSession, type Sessions } from './session.js';

export interface RollbackOptions extends RunOptions {
  /** explicit target release id; default: the previous release on each host */
  release?: string;
  message?: string;
  /** asked after the plan is known (TTY only); false = abort without changes */
  confirm?: (plan: RollbackPlanEntry[]) => Promise<boolean>;
  /** before switching: `backup.restore` with the backup taken before the release being left (db-steps.ts) */
  restoreBackup?: boolean;
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

interface Ctx {
  o: RollbackOptions;
  user: string;
  started: number;
  startedIso: string;
  warnings: string[];
  /** the same on every host's history record of this rollback */
  runId: string;
}

export async function rollback(o: RollbackOptions): Promise<RollbackResult> {
  const { config, reporter } = o;
  if (o.release !== undefined && !isReleaseId(o.release)) throw new UsageError(`invalid release id "${o.release}" (expected 14 digits, e.g. 20261122093000)`);
  if (o.restoreBackup && !config.raw.backup?.restore) throw new UsageError('--restore-backup needs `backup: { command: ..., restore: ... }` in the config');
  const dbAt = o.restoreBackup ? dbHost(config, o.hosts ?? config.hosts) : undefined;
  const started = Date.now();
  // the connections open while `git config user.name` runs (connecting changes nothing remote)
  const transports = connectHosts({ config, hosts: o.hosts ?? config.hosts, reporter, interactive: o.interactive, dryRun: o.dryRun, signal: o.signal });
  const user = await performer(config.dir, o.env).catch(async (e: unknown) => {
    await closeHosts(transports);
    throw e;
  });
  // policy: only `deployers` applies to a rollback (windows and freezes never block one)
  await policyPreflight({ config, hosts: o.hosts ?? config.hosts, interactive: o.interactive }, 'rollback', user, {}).catch(async (e: unknown) => {
    await closeHosts(transports);
    throw e;
  });
  const c: Ctx = { o, user, started, startedIso: new Date(started).toISOString(), warnings: [], runId: randomUUID() };
  const selected = o.hosts ?? config.hosts;
  // (blue-green moves the upstream to the target first: it needs the plan before the step)
  if (!o.dryRun && !o.confirm && !o.restoreBackup && selected.length === 1 && !hasPostChecks(o) && config.env.strategy !== 'blue_green') {
    const done = await direct(c, selected[0], transports).catch(async (e: unknown) => {
      await closeHosts(transports);
      throw e;
    });
    if (done) {
      await closeHosts(transports);
      return done;
    }
  }
  const sessions = await openSessions({ config, hosts: selected, reporter, user, command: 'rollback', interactive: o.interactive, dryRun: o.dryRun, lockWaitMs: o.lockWaitMs, message: o.message, signal: o.signal, transports, force: o.force });
  try {
    await leaveBehindHosts(sessions, o);
    const plan = sessions.hosts.map((s) => planFor(s, o.release));
    for (const entry of plan) reporter.info(`${entry.host}: ${entry.from ?? '(none)'} -> ${entry.to}`);
    if (o.confirm && !o.dryRun && !(await o.confirm(plan))) {
      await releaseLocks(sessions);
      reporter.info('rollback cancelled; nothing was changed');
      const result = newResult(c, plan[0].to, plan);
      result.durationMs = Date.now() - started;
      return result;
    }
    if (dbAt) {
      // the database goes back first, under the lock: a failed restore switches nothing
      const s = sessions.hosts.find((x) => x.host === dbAt)!;
      const entry = plan.find((e) => e.host === s.host.id)!;
      if (!entry.from) throw new UsageError(`${dbAt.id}: no current release, so no backup to restore`);
      const env = { EE_PROJECT: config.project, EE_ENV: config.envName, EE_RELEASE: entry.to, EE_RELEASE_PATH: layout(s.host.path).release(entry.to), EE_DEPLOY_PATH: s.host.path, EE_PREVIOUS_RELEASE: entry.from, EE_HOST: s.host.id, EE_USER: user };
      await restoreBackup({ config, reporter, session: s, token: sessions.token, env, signal: o.signal, dryRun: o.dryRun }, entry.from, entry.to);
    }
    return (await apply(c, sessions, plan))!;
  } catch (e) {
    await releaseLocks(sessions);
    throw e;
  } finally {
    await sessions.close();
  }
}

function hasPostChecks(o: RollbackOptions): boolean {
  return o.config.raw.health_checks.some((x) => x.phase === 'post');
}

/** One host, nothing to ask: the rollback step takes the lock itself. Undefined when it declined. */
async function direct(c: Ctx, host: ResolvedHost, transports: Promise<Map<string, Transport>>): Promise<RollbackResult | undefined> {
  const { o } = c;
  const t = (await transports).get(host.id)!;
  const lock = newLockInfo({ user: c.user, machine: machineName(), message: o.message && redact(o.message), command: 'rollback', env: o.config.envName });
  const sessions: Sessions = { hosts: [{ host, t, state: emptyState(), locked: false }], token: lock.token, lock, close: async () => {} };
  return apply(c, sessions, undefined, lock);
}

function newResult(c: Ctx, release: string, plan: RollbackPlanEntry[]): RollbackResult {
  const { config } = c.o;
  return {
    ok: false,
    action: 'rollback',
    project: config.project,
    env: config.envName,
    release,
    status: 'cancelled',
    user: c.user,
    durationMs: 0,
    hosts: plan.map((entry) => ({ host: entry.host, from: entry.from, current: entry.from, state: 'unchanged' })),
    warnings: c.warnings,
    dryRun: c.o.dryRun || undefined,
  };
}

/**
 * The rollback step on every host, then the post checks, notification, history, unlock.
 * `plan`: the targets the open step's state gave (undefined: the step picks them and `takeLock`
 * is the record it locks with). Undefined when the step declined without changing anything.
 */
async function apply(c: Ctx, sessions: Sessions, plan: RollbackPlanEntry[] | undefined, takeLock?: LockInfo): Promise<RollbackResult | undefined> {
  const { o, user } = c;
  const { config, reporter } = o;
  const entries = new Map<HostSession, RollbackPlanEntry>();
  if (plan) sessions.hosts.forEach((s, i) => entries.set(s, plan[i]));
  const result = newResult(c, plan?.[0].to ?? '', plan ?? []);
  // when `current` switched on each host (the switch is the step's first change)
  const liveAt = new Map<HostSession, string>();
  const record = (status: HistoryStatus, durationMs: number, error?: string, live?: string): HistoryRecord => ({
    project: config.project,
    run: c.runId,
    live_at: live,
    id: '',
    action: 'rollback',
    status,
    user,
    machine: machineName(),
    env: config.envName,
    started: c.startedIso,
    duration_ms: durationMs,
    message: o.message,
    error,
    warnings: c.warnings.length ? c.warnings : undefined,
    hosts: sessions.hosts.map((x) => x.host.id),
  });
  // the outcome is known when the exec ends (one host, no post checks): it records and unlocks too
  // (not when the switch or a hook fails: the script exits first, and the finish below records that)
  const recordInExec = !o.dryRun && sessions.hosts.length === 1 && !hasPostChecks(o);
  const failures: HostState[] = [];
  const finished = new Set<HostSession>();
  let declined = false;
  // blue-green: the upstream goes to a process on the target release before `current` moves
  const bgSwitches = plan ? await blueGreenRollback(o, sessions.hosts.map((s) => ({ s, to: entries.get(s)!.to }))) : undefined;
  const step = plan ? reporter.step(`rolling back to ${new Set(plan.map((p) => p.to)).size === 1 ? plan[0].to : 'the previous releases'}`) : undefined;
  await forEachLimited(sessions.hosts, config.env.max_parallel, async (s) => {
    const entry = entries.get(s);
    const at = new Date().toISOString();
    const cmd = rollbackScript({
      root: s.host.path,
      token: sessions.token,
      lockInfo: takeLock ? serializeLock(takeLock) : undefined,
      release: entry?.to ?? o.release,
      clearBad: o.release !== undefined,
      hooks: config.raw.hooks.after_rollback,
      hooksTimeoutMs: config.raw.hooks_timeout,
      project: config.project,
      force: o.force,
      hookEnv: { EE_PROJECT: config.project, EE_ENV: config.envName, EE_DEPLOY_PATH: s.host.path, EE_HOST: s.host.id, EE_USER: user },
      ...(recordInExec ? { record: { revisionsPrefix: rolledBackLine({ user, release: '' }) } } : {}),
    });
    // recording in the exec: once the hooks are done the script asks for the history line (it
    // names the hash of the line before it, read under the lock) and reads it from stdin
    const stdin = recordInExec ? new PassThrough() : undefined;
    const watch = new SignWatch();
    let signError: unknown;
    const show = remoteOutput(reporter, s.host.id, config.raw.hooks);
    const onStdout = (chunk: string) => {
      show(chunk);
      const req = stdin && watch.write(chunk);
      if (!req) return;
      const rec: HistoryRecord = { ...record('success', Date.now() - c.started, undefined, at), id: req.to, from: req.from, commit: req.commit || undefined };
      writtenHistoryLine(rec, req.lastHistory || undefined, s.t.signer).then(
        (line) => stdin!.end(`${line}\n`),
        (e: unknown) => {
          signError = e;
          stdin!.end();
        },
      );
    };
    const exec = s.t.exec(cmd, { onStdout, stdin, signal: takeLock ? o.signal : undefined });
    // taking the lock itself, a lost connection is the error; holding it, the failure is recorded below
    const r = takeLock ? await exec : await exec.catch((e: Error) => ({ code: -1, stdout: '', stderr: e.message }));
    const a = parseRollback(r.stdout);
    const reason = failureText(r);
    if (takeLock && !a.plan) {
      if (r.code === 0 && a.fallback !== undefined) {
        declined = true;
        return;
      }
      throw new DeployError(redact(`${s.host.id}: rollback failed: ${reason ?? `exit ${r.code}`}`), { host: s.host.id, step: 'rollback' });
    }
    if (takeLock) s.locked = true;
    if (signError) {
      // switched, nothing recorded (an unsigned line would break the chain): free the lock, say why
      await s.t.exec(unlockScript(s.host.path, sessions.token)).catch(() => undefined);
      s.locked = false;
      throw new DeployError(redact(`${s.host.id}: rolled back to ${a.plan!.to}, but the history line could not be signed: ${(signError as Error).message}`), { host: s.host.id, step: 'rollback' });
    }
    if (!entry) {
      reporter.info(`${s.host.id}: ${a.plan!.from} -> ${a.plan!.to}`);
      result.release = a.plan!.to;
      result.hosts.push({ host: s.host.id, from: a.plan!.from, current: a.plan!.from, state: 'unchanged' });
    }
    const to = entry?.to ?? a.plan!.to;
    const h = result.hosts.find((x) => x.host === s.host.id)!;
    if (a.switched || o.dryRun) {
      liveAt.set(s, at);
      h.current = to;
      h.state = 'rolled_back';
    }
    if (recordInExec && r.code === 0 && a.finished) {
      finished.add(s);
      s.locked = false;
    }
    if ((r.code !== 0 || (!a.plan && a.fallback !== undefined)) && !o.dryRun) {
      const detail = redact(reason ?? (a.fallback ? `the server declined (${a.fallback})` : ''));
      h.state = h.current === to ? 'rolled_back, after_rollback hook failed' : 'failed';
      h.error = `${s.host.id}: ${h.current === to ? 'after_rollback hook failed' : 'rollback failed'}${detail ? `: ${detail}` : ''}`;
      failures.push({ host: s.host.id, state: h.error, current: h.current });
    }
  });
  if (declined) return undefined;
  const target = result.release;
  if (step) {
    if (failures.length) step.fail('rollback failed');
    else step.succeed(`current -> ${target}${sessions.hosts.length > 1 ? ` on ${sessions.hosts.length} hosts` : ''}`);
  } else if (!failures.length) reporter.success(`current -> ${target}`);
  if (bgSwitches) await blueGreenRollbackDone(o, bgSwitches, c.warnings);
  // an interrupt during the checks still records what happened: the switch is done
  let post: CheckOutcome | undefined;
  let interrupted: EeError | undefined;
  try {
    post = await runChecks(o, 'post', sessions.hosts.map((s) => ({ host: s.host.id, transport: s.t, cwd: layout(s.host.path).current })));
  } catch (e) {
    if (!o.signal?.aborted) throw e;
    interrupted = new InterruptedError(`interrupted during the post health checks; current is ${target}`);
  }
  const durationMs = Date.now() - c.started;
  const healthy = !post || post.ok;
  result.status = interrupted ? 'interrupted' : failures.length === 0 && healthy ? 'success' : 'failed';
  result.ok = result.status === 'success';
  result.durationMs = durationMs;
  result.health = post ? [post] : undefined;
  const error = failures[0]?.state ?? (post && !post.ok ? post.summary : interrupted?.message);
  if (!o.dryRun) {
    await notify(o, { level: result.ok ? 'rollback' : 'failure', action: 'rollback', user, release: target, previousRelease: result.hosts[0]?.from, hosts: sessions.hosts.map((s) => s.host.id), durationMs, status: result.status, error, run: c.startedIso, runStarted: c.startedIso }, c.warnings, { history: historyLoader(sessions.hosts) });
  }
  await forEachLimited(sessions.hosts, config.env.max_parallel, async (s) => {
    if (finished.has(s)) return;
    const h = result.hosts.find((x) => x.host === s.host.id)!;
    const to = entries.get(s)?.to ?? target;
    const rec: HistoryRecord = { ...record(result.status as HistoryStatus, durationMs, error, liveAt.get(s)), id: to, from: h.from, commit: s.state.releases.find((r) => r.id === to)?.revision };
    const r = await s.t
      .exec(finishScript({ root: s.host.path, historyLine: await writtenHistoryLine(rec, s.state.lastHistory, s.t.signer), revisionsLine: h.current === to ? rolledBackLine({ user, release: to }) : undefined, unlockToken: sessions.token }))
      .catch((e: Error) => ({ code: -1, stdout: '', stderr: e.message }));
    if (r.code === 0) s.locked = false;
  });
  await releaseLocks(sessions);
  if (interrupted && !failures.length) {
    interrupted.result = result;
    throw interrupted;
  }
  if (failures.some((f) => f.current !== (entries.get(sessions.hosts.find((s) => s.host.id === f.host)!)?.to ?? target))) {
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
}

/**
 * A fleet caught between releases (after `deploy --canary-only`, or an interrupted rolling
 * deploy): a plain rollback moves only the hosts on the newest release, back to what the rest
 * of the fleet still runs; the hosts that never switched stay where they are (and are unlocked).
 */
async function leaveBehindHosts(sessions: Sessions, o: RollbackOptions): Promise<void> {
  if (o.release !== undefined) return;
  const currents = sessions.hosts.map((s) => s.state.current).filter((x): x is string => !!x && isReleaseId(x));
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

/** The target on one host, from the state its open step printed (the previous release is the server's answer). */
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
  if (!state.previous) {
    throw new EeError(`${s.host.id}: no previous release to roll back to (current: ${state.current ?? 'none'}; releases: ${state.releases.map((r) => r.id + (r.bad ? ' [bad]' : '')).join(', ') || 'none'})`, 1);
  }
  return { host: s.host.id, from: state.current, to: state.previous };
}
