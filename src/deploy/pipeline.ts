/**
 * The deploy pipeline: the waves planned by strategy.ts, each prepared (prepare.ts) then switched
 * (switch.ts) and checked; a canary wave is watched. A failure goes to recovery.ts; the outcome
 * is recorded by records.ts.
 */
import { formatDuration } from '../config/duration.js';
import { DeployError } from '../errors.js';
import { layout } from '../remote/layout.js';
import type { HostSession } from './session.js';
import type { SourceTree } from '../release/scan.js';
import { runChecks, notify, type CheckOutcome } from './checks.js';
import { runNotifyExtras } from './notify-context.js';
import { canaryCheckInterval, describePlan, type Wave } from './strategy.js';
import { sleep } from '../util/sleep.js';
import { preflight, prepareAll } from './prepare.js';
import { type DeployResult, eventFrom, finishAll, makeResult } from './records.js';
import { failBeforeDone } from './recovery.js';
import { type Run, checkInterrupt, hookEnv, timeStep } from './run.js';
import { backupAndMigrate } from './db-steps.js';
import { switchAll } from './switch.js';
import * as traffic from './traffic.js';
import { writeEnvFile } from './env-file.js';

export async function pipeline(run: Run, tree: SourceTree): Promise<DeployResult> {
  const { o, sessions, plan } = run;
  const { reporter, config } = o;
  reporter.info(`release ${run.id}`);
  if (plan.strategy !== 'parallel' || run.promote) reporter.info(`${run.promote ? 'promote, ' : ''}${describePlan(plan, (s) => s.host.id, formatDuration)}`);
  try {
    preflight(run, tree);
    await writeEnvFile(config, sessions.hosts, o);
    if (plan.prepare === 'upfront') await preparePhase(run, tree, plan.waves.flatMap((w) => w.hosts));
    if (run.db && !run.promote) await dbPhase(run);
    for (const wave of plan.waves) {
      if (plan.prepare === 'per-wave') await preparePhase(run, tree, wave.hosts, wave);
      checkInterrupt(run, 'before the switch');
      // from the first switch on, a failure rolls back every host on the release (a --promote's canary too)
      for (const s of run.alreadyLive) if (!run.switched.includes(s)) run.switched.push(s);
      await traffic.beforeSwitch(run, wave.hosts);
      await switchAll(run, wave.hosts, wave);
      await postChecks(run, wave);
      await traffic.afterChecks(run, wave.hosts);
      if (o.canaryOnly && wave.kind === 'canary') {
        await traffic.onSuccess(run);
        return await finishCanary(run, wave);
      }
      if (wave.pauseAfterMs > 0 && wave !== plan.waves[plan.waves.length - 1]) {
        reporter.info(`${wave.label} done; pausing ${formatDuration(wave.pauseAfterMs)} before the next`);
        if (!o.dryRun) await sleep(wave.pauseAfterMs, o.signal);
        checkInterrupt(run, `during the pause after ${wave.label}`);
      }
    }
  } catch (e) {
    // nothing or only part of the fleet switched, or checks failed: put every switched host back, drop the release
    await traffic.revertSwitches(run);
    try {
      return await failBeforeDone(run, e);
    } catch (x) {
      await traffic.onFailure(run, x);
      throw x;
    }
  }

  // success
  await traffic.onSuccess(run);
  const durationMs = Date.now() - run.started;
  const result = makeResult(run, 'success', durationMs);
  const extras = o.dryRun ? undefined : await runNotifyExtras(run);
  const notes = extras ? await notify(o, { ...eventFrom(run, 'success', durationMs), ...extras.extra }, run.warnings, extras.ctx) : [];
  result.notifications = notes;
  await finishAll(run, 'success', durationMs);
  result.warnings = run.warnings;
  for (const s of sessions.hosts) {
    const out = run.outcomes.get(s.host.id)!;
    out.state = 'deployed';
    out.current = run.id;
  }
  reporter.success(`${config.project} ${run.id} is live on ${config.envName}${run.promote ? ` (promoted from the canary)` : ''} (${formatDuration(durationMs)})${o.dryRun ? ' [dry run: nothing was changed]' : ''}`);
  for (const s of sessions.hosts) if (s.host.local) reporter.info(`current -> ${layout(s.host.path).release(run.id)}`);
  return result;
}

/** Phase one for `hosts`: upload + shared links + before_switch hooks, then the pre checks. */
export async function preparePhase(run: Run, tree: SourceTree, hosts: HostSession[], wave?: Wave<HostSession>): Promise<void> {
  const todo = hosts.filter((s) => run.toPrepare.has(s));
  if (todo.length === 0) return;
  if (wave && wave.kind !== 'all') run.o.reporter.info(`${wave.label}: ${todo.map((s) => s.host.id).join(', ')}`);
  await prepareAll(run, tree, todo);
  checkInterrupt(run, 'before the switch');
  const tc = Date.now();
  const pre = await runChecks(run.o, 'pre', todo.map((s) => ({ host: s.host.id, transport: s.t, cwd: layout(s.host.path).release(run.id) })));
  timeStep(run, 'checks', tc);
  if (pre) {
    run.health.push(pre);
    if (!pre.ok) throw new DeployError(pre.summary, { step: 'pre health checks', host: failedHost(pre) });
  }
}

/**
 * Post checks on a wave just switched. A canary wave is watched: the checks re-run every few
 * seconds (canaryCheckInterval) until `canary.wait` has passed, at least once.
 */
export async function postChecks(run: Run, wave: Wave<HostSession>): Promise<void> {
  const { o } = run;
  const targets = wave.hosts.map((s) => ({ host: s.host.id, transport: s.t, cwd: layout(s.host.path).current }));
  const watchMs = o.dryRun ? 0 : wave.watchMs;
  const interval = canaryCheckInterval(watchMs);
  const t0 = Date.now();
  if (watchMs > 0) {
    const any = o.config.raw.health_checks.some((c) => c.phase === 'post');
    o.reporter.info(`watching the canary (${wave.hosts.map((s) => s.host.id).join(', ')}) for ${formatDuration(watchMs)}${any ? `: post health checks every ${formatDuration(interval)}` : ' (no post health checks configured)'}`);
  }
  let rounds = 0;
  let last: CheckOutcome | undefined;
  for (;;) {
    const tc = Date.now();
    const post = await runChecks(o, 'post', targets);
    timeStep(run, 'checks', tc);
    rounds++;
    if (post) last = post;
    if (post && !post.ok) {
      run.health.push(post);
      const where = wave.kind === 'all' ? '' : wave.kind === 'canary' ? `canary${rounds > 1 ? ` (check round ${rounds}, after ${formatDuration(Date.now() - t0)})` : ''}: ` : `${wave.label}: `;
      throw new DeployError(`${where}${post.summary}`, { step: wave.kind === 'canary' ? 'canary health checks' : 'post health checks', host: failedHost(post) });
    }
    checkInterrupt(run, 'during health checks');
    const elapsed = Date.now() - t0;
    if (elapsed >= watchMs) break;
    await sleep(Math.min(interval, watchMs - elapsed), o.signal);
    checkInterrupt(run, 'while watching the canary');
  }
  if (last) run.health.push(last);
  if (watchMs > 0) o.reporter.success(`canary healthy for ${formatDuration(Date.now() - t0)}${last ? ` (${rounds} check round${rounds === 1 ? '' : 's'})` : ''}`);
}

export function failedHost(c: CheckOutcome): string | undefined {
  return (c.results as { ok?: boolean; host?: string }[]).find((r) => r.ok === false && r.host)?.host;
}

/**
 * `--canary-only`: the canary is live and healthy; the other hosts keep the release prepared for
 * `deploy --promote`. History records status `canary` on every host; the lock is released.
 */
export async function finishCanary(run: Run, wave: Wave<HostSession>): Promise<DeployResult> {
  const { o, sessions } = run;
  const durationMs = Date.now() - run.started;
  for (const s of sessions.hosts) {
    const out = run.outcomes.get(s.host.id)!;
    if (wave.hosts.includes(s)) {
      out.state = 'deployed';
      out.current = run.id;
    } else out.state = 'prepared';
  }
  const result = makeResult(run, 'canary', durationMs);
  const extras = o.dryRun ? undefined : await runNotifyExtras(run);
  result.notifications = extras ? await notify(o, { ...eventFrom(run, 'success', durationMs), ...extras.extra, status: 'canary', hosts: wave.hosts.map((s) => s.host.id) }, run.warnings, extras.ctx) : [];
  await finishAll(run, 'canary', durationMs);
  result.warnings = run.warnings;
  const rest = sessions.hosts.filter((s) => !wave.hosts.includes(s)).map((s) => s.host.id);
  const canary = wave.hosts.map((s) => s.host.id).join(',');
  o.reporter.success(
    `canary ${run.id} is live on ${canary} (${o.config.envName}, ${formatDuration(durationMs)})${o.dryRun ? ' [dry run: nothing was changed]' : ''}` +
      (rest.length ? `; ${rest.length} other host(s) hold it prepared: \`ee-deploy deploy --promote\` switches them, \`ee-deploy rollback --hosts ${canary} --yes\` takes the canary back` : ''),
  );
  return result;
}

/** backup + migrate, once, on the db host, after every host is prepared and before the first switch */
async function dbPhase(run: Run): Promise<void> {
  checkInterrupt(run, 'before the migrations');
  const s = run.sessions.hosts.find((x) => x.host === run.db);
  if (!s) throw new DeployError(`internal: migrate host ${run.db!.id} has no session`, { step: 'migrate' });
  await backupAndMigrate({ config: run.o.config, reporter: run.o.reporter, session: s, token: run.sessions.token, env: hookEnv(run, s), signal: run.o.signal, dryRun: run.o.dryRun }, run.id);
}
