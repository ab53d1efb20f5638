/**
 * The deploy pipeline. Per host the remote work is batched into a few execs:
 *   open (layout + lock + state) -> prepare (upload, shared links, before_switch hooks)
 *   -> switch (+ after_switch hooks) -> finish (history, revisions.log, prune, unlock).
 * Every host is prepared before any host is switched, so a failure while preparing leaves
 * every `current` untouched. After the switch, failed checks roll every switched host back.
 */
import { formatDuration } from '../config/duration.js';
import { redact } from '../config/secrets.js';
import type { ResolvedHost } from '../config/resolve.js';
import { DeployError, EeError, InterruptedError, NeedsHumanError, type HostState } from '../errors.js';
import { historyLine, deployedLine, rolledBackLine, type HistoryRecord, type HistoryStatus } from '../history/record.js';
import { finishScript, prepareScript, switchScript } from '../remote/commands/scripts.js';
import { layout } from '../remote/layout.js';
import { newReleaseId } from '../remote/release-id.js';
import type { RunOptions } from './context.js';
import { gitInfo, machineName, performer, type GitInfo } from './identity.js';
import { runLocalCommand } from './local-steps.js';
import { previousRelease, selectPrune } from './plan.js';
import { execChecked, userOutput } from './remote.js';
import { openSessions, releaseLocks, type HostSession, type Sessions } from './session.js';
import { scanSource, tarStream, treeFingerprint, type SourceTree } from './source.js';
import { runChecks, notify, type CheckOutcome } from './checks.js';

export interface DeployOptions extends RunOptions {
  message?: string;
}

export type HostOutcomeState = 'deployed' | 'unchanged' | 'rolled_back' | 'failed' | 'needs_human';

export interface HostOutcome {
  host: string;
  state: HostOutcomeState;
  current?: string;
  previous?: string;
  step?: string;
  error?: string;
  pruned?: string[];
}

export interface DeployResult {
  ok: boolean;
  action: 'deploy';
  project: string;
  env: string;
  release: string;
  status: HistoryStatus;
  commit?: string;
  user: string;
  durationMs: number;
  hosts: HostOutcome[];
  warnings: string[];
  dryRun?: boolean;
  health?: CheckOutcome[];
  notifications?: { channel: string; ok: boolean; error?: string }[];
  error?: string;
}

interface Run {
  o: DeployOptions;
  sessions: Sessions;
  id: string;
  user: string;
  git: GitInfo;
  revision: string;
  started: number;
  startedIso: string;
  warnings: string[];
  outcomes: Map<string, HostOutcome>;
  health: CheckOutcome[];
  /** hosts whose `current` now points at the new release */
  switched: HostSession[];
}

export async function deploy(o: DeployOptions): Promise<DeployResult> {
  const { config, reporter } = o;
  const started = Date.now();
  const startedIso = new Date(started).toISOString();
  const hosts = o.hosts ?? config.hosts;
  const user = await performer(config.dir, o.env);
  const git = await gitInfo(config.dir);
  const warnings: string[] = [];
  reporter.info(`deploying ${config.project} to ${config.envName} (${hosts.map((h) => h.id).join(', ')})${o.dryRun ? ' [dry run]' : ''}`);

  if (!o.dryRun) {
    await notify(o, { level: 'started', action: 'deploy', user, commit: git.sha, hosts: hosts.map((h) => h.id), status: 'started' }, warnings);
  }

  // local steps: nothing remote is touched if they fail
  for (const h of config.raw.hooks.before_upload) {
    if (o.dryRun) reporter.info(`[dry-run] local: before_upload hook: ${h}`);
    else await runLocalCommand(h, { cwd: config.dir, reporter, step: 'before_upload hook', signal: o.signal });
  }
  if (config.raw.source.build) {
    if (o.dryRun) reporter.info(`[dry-run] local: build: ${config.raw.source.build}`);
    else await runLocalCommand(config.raw.source.build, { cwd: config.dir, reporter, step: 'build', signal: o.signal });
  }
  if (o.signal?.aborted) throw new InterruptedError('interrupted before upload; nothing was touched');
  const tree = o.dryRun ? await scanSource(config.sourceDir, config.raw.source.exclude).catch(() => emptyTree(config.sourceDir)) : await scanSource(config.sourceDir, config.raw.source.exclude);
  const revision = git.sha ?? treeFingerprint(tree);
  reporter.info(`source ${config.sourceDir}: ${tree.files} files, ${formatBytes(tree.totalBytes)}`);

  const sessions = await openSessions({ config, hosts, reporter, user, command: 'deploy', interactive: o.interactive, dryRun: o.dryRun, lockWaitMs: o.lockWaitMs, message: o.message, signal: o.signal });
  const allIds = sessions.hosts.flatMap((s) => s.state.releases.map((r) => r.id));
  const run: Run = {
    o,
    sessions,
    id: newReleaseId(allIds),
    user,
    git,
    revision,
    started,
    startedIso,
    warnings,
    outcomes: new Map(sessions.hosts.map((s) => [s.host.id, { host: s.host.id, state: 'unchanged', current: s.state.current, previous: s.state.current }])),
    health: [],
    switched: [],
  };
  try {
    return await pipeline(run, tree);
  } finally {
    await sessions.close();
  }
}

async function pipeline(run: Run, tree: SourceTree): Promise<DeployResult> {
  const { o, sessions } = run;
  const { reporter, config } = o;
  reporter.info(`release ${run.id}`);
  try {
    preflight(run, tree);
    await prepareAll(run, tree);
    checkInterrupt(run, 'before the switch');
    const pre = await runChecks(run.o, 'pre', sessions.hosts.map((s) => ({ host: s.host.id, transport: s.t, cwd: layout(s.host.path).release(run.id) })));
    if (pre) {
      run.health.push(pre);
      if (!pre.ok) throw new DeployError(pre.summary, { step: 'pre health checks' });
    }
    checkInterrupt(run, 'before the switch');
    await switchAll(run, sessions.hosts);
  } catch (e) {
    // nothing or only part of the fleet switched: put every switched host back, drop the release
    return await failBeforeDone(run, e);
  }
  const post = await runChecks(run.o, 'post', sessions.hosts.map((s) => ({ host: s.host.id, transport: s.t, cwd: layout(s.host.path).current })));
  if (post) run.health.push(post);
  if (post && !post.ok) return await autoRollback(run, new DeployError(post.summary, { step: 'post health checks' }));
  if (o.signal?.aborted) return await autoRollback(run, new InterruptedError('interrupted during health checks; rolled back'));

  // success
  const durationMs = Date.now() - run.started;
  const result = makeResult(run, 'success', durationMs);
  const notes = o.dryRun ? [] : await notify(o, eventFrom(run, 'success', durationMs), run.warnings);
  result.notifications = notes;
  await finishAll(run, 'success', durationMs);
  result.warnings = run.warnings;
  for (const s of sessions.hosts) {
    const out = run.outcomes.get(s.host.id)!;
    out.state = 'deployed';
    out.current = run.id;
  }
  reporter.success(`${config.project} ${run.id} is live on ${config.envName} (${formatDuration(durationMs)})${o.dryRun ? ' [dry run: nothing was changed]' : ''}`);
  for (const s of sessions.hosts) if (s.host.local) reporter.info(`current -> ${layout(s.host.path).release(run.id)}`);
  return result;
}

function preflight(run: Run, tree: SourceTree): void {
  if (run.o.dryRun) return;
  for (const s of run.sessions.hosts) {
    if (s.state.missingTools.length) {
      throw new DeployError(`${s.host.id}: missing on the server: ${s.state.missingTools.join(', ')} (ee-deploy needs sh, tar, mkdir, ln, mv, rm, cp)`, { host: s.host.id, step: 'preflight' });
    }
    const needKb = Math.ceil((tree.totalBytes * 1.1) / 1024) + 1024;
    if (s.state.availableKb !== undefined && s.state.availableKb < needKb) {
      throw new DeployError(
        `${s.host.id}: not enough disk space in ${s.host.path}: ${formatBytes(s.state.availableKb * 1024)} free, the release needs about ${formatBytes(tree.totalBytes)}`,
        { host: s.host.id, step: 'preflight' },
      );
    }
  }
}

function hookEnv(run: Run, s: HostSession): Record<string, string> {
  const l = layout(s.host.path);
  return {
    EE_PROJECT: run.o.config.project,
    EE_ENV: run.o.config.envName,
    EE_RELEASE: run.id,
    EE_RELEASE_PATH: l.release(run.id),
    EE_DEPLOY_PATH: l.root,
    EE_PREVIOUS_RELEASE: s.state.current ?? '',
    EE_HOST: s.host.id,
    EE_USER: run.user,
  };
}

async function prepareAll(run: Run, tree: SourceTree): Promise<void> {
  const { o, sessions } = run;
  const cfg = o.config.raw;
  const paths = tree.entries.map((e) => e.path);
  const step = o.reporter.step(`uploading ${tree.files} files (${formatBytes(tree.totalBytes)}) to ${sessions.hosts.length} host(s)`);
  const errors: EeError[] = [];
  await forEachLimited(sessions.hosts, o.config.env.max_parallel, async (s) => {
    try {
      const gzip = !s.t.isLocal && !isLoopback(s.host);
      const stdin = await tarStream(tree.dir, paths, { gzip: gzip ? 1 : false });
      const r = await execChecked(
        s.t,
        prepareScript({
          root: s.host.path,
          id: run.id,
          gzip,
          sharedDirs: cfg.shared.dirs,
          sharedFiles: cfg.shared.files,
          revision: run.revision,
          revisionTime: run.startedIso,
          hooks: cfg.hooks.before_switch,
          hookEnv: hookEnv(run, s),
        }),
        'prepare',
        { stdin, onStdout: (d) => o.reporter.output(s.host.id, d), signal: o.signal },
      );
      void r;
    } catch (e) {
      const err = e instanceof EeError ? e : new DeployError(`${s.host.id}: upload failed: ${(e as Error).message}`, { host: s.host.id, step: 'prepare' });
      err.host ??= s.host.id;
      const out = run.outcomes.get(s.host.id)!;
      out.state = 'failed';
      out.step = describeStep(err);
      out.error = err.message;
      if ('stdout' in err && !o.reporter.verbose) {
        const text = userOutput(err as unknown as { stdout: string; stderr: string; code: number | null });
        if (text) o.reporter.output(s.host.id, text);
      }
      errors.push(err);
    }
  });
  if (errors.length) {
    step.fail(`prepare failed on ${errors.length} of ${sessions.hosts.length} host(s)`);
    const first = errors[0];
    if (errors.length > 1) first.message += ` (and ${errors.length - 1} more host(s) failed)`;
    throw first;
  }
  step.succeed(`release ${run.id} prepared on ${sessions.hosts.length} host(s)`);
}

function describeStep(e: EeError): string {
  const m = /hook-failed (\w+) (\d+)/.exec('stdout' in e ? String((e as { stdout: string }).stdout) : '');
  if (m) return `${m[1]} hook #${Number(m[2]) + 1}`;
  return e.step ?? 'prepare';
}

async function switchAll(run: Run, hosts: HostSession[]): Promise<void> {
  const { o } = run;
  const step = o.reporter.step(`switching current to ${run.id}`);
  const errors: EeError[] = [];
  await forEachLimited(hosts, o.config.env.max_parallel, async (s) => {
    try {
      const r = await s.t.exec(
        switchScript({ root: s.host.path, id: run.id, hooks: o.config.raw.hooks.after_switch, hookEnv: hookEnv(run, s), phase: 'after_switch' }),
        { onStdout: (d) => o.reporter.output(s.host.id, d) },
      );
      if (r.stdout.includes(`@@ee switched ${run.id}`)) run.switched.push(s);
      if (r.code !== 0) {
        const hook = /@@ee hook-failed after_switch (\d+) (\d+)/.exec(r.stdout);
        const what = hook ? `after_switch hook #${Number(hook[1]) + 1} failed (exit ${hook[2]})` : 'switch failed';
        const detail = userOutput(r).split('\n').pop();
        throw new DeployError(redact(`${s.host.id}: ${what}${detail ? `: ${detail}` : ''}`), { host: s.host.id, step: hook ? 'after_switch hook' : 'switch' });
      }
    } catch (e) {
      const err = e instanceof EeError ? e : new DeployError(`${s.host.id}: switch failed: ${(e as Error).message}`, { host: s.host.id, step: 'switch' });
      const out = run.outcomes.get(s.host.id)!;
      out.state = 'failed';
      out.step = err.step ?? 'switch';
      out.error = err.message;
      errors.push(err);
    }
  });
  if (errors.length) {
    step.fail('switch failed');
    throw errors[0];
  }
  step.succeed(`current -> ${run.id} on ${hosts.length} host(s)`);
}

function checkInterrupt(run: Run, when: string): void {
  if (run.o.signal?.aborted) throw new InterruptedError(`interrupted ${when}`);
}

/**
 * Failure before every host was switched and checked: switched hosts go back to what they had,
 * the new release is removed everywhere, history records the failure, locks are released.
 */
async function failBeforeDone(run: Run, e: unknown): Promise<never> {
  const err = e instanceof EeError ? e : new DeployError(String((e as Error)?.message ?? e));
  if (run.switched.length) return autoRollback(run, err);
  const status: HistoryStatus = err instanceof InterruptedError ? 'interrupted' : 'failed';
  const durationMs = Date.now() - run.started;
  await notifyFailure(run, err, status, durationMs);
  await finishAll(run, status, durationMs, { removeRelease: true, error: err.message });
  throw err;
}

async function notifyFailure(run: Run, err: EeError, status: HistoryStatus, durationMs: number): Promise<void> {
  if (run.o.dryRun) return;
  const level = status === 'rolled_back' ? 'rollback' : 'failure';
  await notify(run.o, { ...eventFrom(run, level, durationMs), error: err.message, host: err.host, status }, run.warnings);
}

/**
 * Post-switch failure: every switched host goes back to the release it had before (after_rollback
 * hooks, post checks again), the new release is marked BAD_RELEASE. Exit 1, or 5 when that fails.
 */
async function autoRollback(run: Run, cause: EeError): Promise<never> {
  const { o } = run;
  o.reporter.warn(`${cause.message}: rolling back`);
  const states: HostState[] = [];
  const back: HostSession[] = [];
  const stranded: HostSession[] = [];
  for (const s of run.switched) {
    const prev = s.state.current && s.state.releases.some((r) => r.id === s.state.current) ? s.state.current : previousRelease(s.state.releases, run.id);
    if (!prev) {
      stranded.push(s);
      states.push({ host: s.host.id, state: `still on the new release ${run.id}: there is no previous release to roll back to`, current: run.id });
      continue;
    }
    const r = await s.t.exec(switchScript({ root: s.host.path, id: prev, hooks: o.config.raw.hooks.after_rollback, hookEnv: { ...hookEnv(run, s), EE_RELEASE: prev, EE_FAILED_RELEASE: run.id }, phase: 'after_rollback' }), {
      onStdout: (d) => o.reporter.output(s.host.id, d),
    }).catch((e: Error) => ({ code: -1, stdout: '', stderr: e.message }));
    const switchedBack = r.stdout.includes(`@@ee switched ${prev}`);
    const out = run.outcomes.get(s.host.id)!;
    if (switchedBack) {
      out.current = prev;
      back.push(s);
      if (r.code !== 0) states.push({ host: s.host.id, state: `back on ${prev}, but an after_rollback hook failed`, current: prev });
    } else {
      stranded.push(s);
      states.push({ host: s.host.id, state: `rollback to ${prev} failed (${redact(r.stderr.trim().split('\n').pop() ?? 'unknown error')}); current is ${run.id}`, current: run.id });
    }
  }
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
  if (needsHuman) {
    const summary = states.map((s) => `${s.host}: ${s.state}`).join('; ');
    throw new NeedsHumanError(redact(`${cause.message}; automatic rollback failed: ${summary}`), states);
  }
  if (cause instanceof InterruptedError) throw cause;
  const where = back.map((s) => `${s.host.id} -> ${run.outcomes.get(s.host.id)!.current}`).join(', ');
  throw new DeployError(redact(`${cause.message}; rolled back (${where})`), { host: cause.host, step: cause.step });
}

/**
 * Last exec per host: history, revisions.log, BAD_RELEASE or removal of the failed release,
 * pruning (success only), unlock.
 */
async function finishAll(run: Run, status: HistoryStatus, durationMs: number, f: { removeRelease?: boolean; markBad?: boolean; error?: string } = {}): Promise<void> {
  const { o, sessions } = run;
  const keep = o.config.raw.keep_releases;
  await forEachLimited(sessions.hosts, o.config.env.max_parallel, async (s) => {
    const out = run.outcomes.get(s.host.id)!;
    const isCurrent = status === 'success' || (out.current === run.id);
    const record: HistoryRecord = {
      id: run.id,
      action: 'deploy',
      status,
      from: s.state.current,
      user: run.user,
      machine: machineName(),
      env: o.config.envName,
      commit: run.git.sha ?? run.revision,
      branch: run.git.branch,
      started: run.startedIso,
      duration_ms: durationMs,
      message: o.message,
      error: f.error,
      warnings: run.warnings.length ? run.warnings : undefined,
      hosts: sessions.hosts.map((h) => h.host.id),
    };
    const ids = [...s.state.releases.map((r) => r.id), run.id];
    const prune = status === 'success' ? selectPrune(ids, keep, run.id) : [];
    const wasSwitched = run.switched.includes(s);
    const r = await s.t
      .exec(
        finishScript({
          root: s.host.path,
          historyLine: historyLine(record),
          revisionsLine: status === 'success' ? deployedLine({ branch: run.git.branch, sha: run.git.sha ?? run.revision, release: run.id, user: run.user }) : wasSwitched && out.current !== run.id ? rolledBackLine({ user: run.user, release: out.current ?? '' }) : undefined,
          // a switched-then-rolled-back release stays for inspection, marked; one that never went live is removed
          markBad: f.markBad && wasSwitched ? { id: run.id, text: `${new Date().toISOString()},${run.user}` } : undefined,
          removeRelease: f.removeRelease && !wasSwitched && !isCurrent ? run.id : undefined,
          prune,
          unlockToken: sessions.token,
        }),
      )
      .catch((e: Error) => ({ code: -1, stdout: '', stderr: e.message }));
    if (r.code === 0) {
      s.locked = false;
      out.pruned = prune.filter((id) => r.stdout.includes(`@@ee pruned ${id}`));
    } else {
      run.warnings.push(redact(`${s.host.id}: could not record history / release the lock: ${r.stderr.trim().split('\n').pop() ?? ''}`));
    }
  });
  // a host whose finish failed (e.g. connection lost) still holds our lock: try once more
  await releaseLocks(sessions);
}

function makeResult(run: Run, status: HistoryStatus, durationMs: number): DeployResult {
  return {
    ok: status === 'success',
    action: 'deploy',
    project: run.o.config.project,
    env: run.o.config.envName,
    release: run.id,
    status,
    commit: run.git.sha ?? run.revision,
    user: run.user,
    durationMs,
    hosts: [...run.outcomes.values()],
    warnings: run.warnings,
    dryRun: run.o.dryRun || undefined,
    health: run.health.length ? run.health : undefined,
  };
}

function eventFrom(run: Run, level: 'success' | 'failure' | 'rollback', durationMs: number) {
  return {
    level,
    action: 'deploy' as const,
    user: run.user,
    commit: run.git.sha ?? run.revision,
    release: run.id,
    hosts: run.sessions.hosts.map((s) => s.host.id),
    durationMs,
    status: level === 'success' ? 'success' : level === 'rollback' ? 'rolled_back' : 'failed',
  };
}

/** Results of a failed deploy for --json: the CLI attaches them to the error document. */
export function isLoopback(h: ResolvedHost): boolean {
  return /^(127\.\d+\.\d+\.\d+|localhost|::1)$/.test(h.name);
}

export async function forEachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

function emptyTree(dir: string): SourceTree {
  return { dir, entries: [], totalBytes: 0, files: 0 };
}
