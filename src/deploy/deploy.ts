/**
 * The deploy pipeline. Per host the remote work is batched into a few execs:
 *   open (layout + lock + state) -> prepare (upload, shared links, before_switch hooks)
 *   -> switch (+ after_switch hooks) -> finish (history, revisions.log, prune, unlock).
 * The fleet moves in waves planned by strategy.ts (parallel: one wave; rolling: batches;
 * canary: the canary, watched, then the rest). Every host of a wave is prepared before any of
 * them is switched (parallel and canary prepare the whole fleet first), so a failure while
 * preparing leaves every `current` untouched; a failure after the first switch (a later wave's
 * prepare, a switch, post checks) rolls every switched host back, so the fleet ends on one release.
 * `--canary-only` stops after the canary wave; `--promote` (promote()) switches the rest later.
 */
import { formatDuration } from '../config/duration.js';
import { redact } from '../config/secrets.js';
import type { ResolvedHost } from '../config/resolve.js';
import { ConnectionError, DeployError, EeError, InterruptedError, NeedsHumanError, UsageError, type HostState } from '../errors.js';
import { historyLine, deployedLine, parseHistory, rolledBackLine, type HistoryRecord, type HistoryStatus } from '../history/record.js';
import { finishScript, parseFinish } from '../remote/steps/finish.js';
import { parseHookFailure } from '../remote/steps/hooks.js';
import { parseHistoryLines, readHistoryScript } from '../remote/steps/inspect.js';
import { prepareScript } from '../remote/steps/prepare.js';
import { selectPrune } from '../remote/steps/prune.js';
import { parseSwitch, switchScript } from '../remote/steps/switch.js';
import { userOutput } from '../remote/protocol.js';
import { layout } from '../remote/layout.js';
import { newReleaseId } from '../remote/release-id.js';
import type { RunOptions } from './context.js';
import { gitInfo, machineName, performer, revisionOf, type GitInfo } from './identity.js';
import { runLocalCommand } from './local-steps.js';
import { writeEnvFile } from './env-file.js';
import { previousRelease } from './plan.js';
import { execChecked, tail } from './remote.js';
import { closeHosts, connectHosts, openSessions, reconnectLost, releaseLocks, type HostSession, type Sessions } from './session.js';
import { scanSource, treeFingerprint, type SourceTree } from '../release/scan.js';
import { knownManifests } from '../release/manifest-cache.js';
import { NETWORK_GZIP_LEVEL, UploadPlan } from '../release/upload-plan.js';
import { runChecks, notify, type CheckOutcome } from './checks.js';
import { canaryCheckInterval, describePlan, planStrategy, type StrategyName, type StrategyPlan, type Wave } from './strategy.js';
import { sleep } from '../util/sleep.js';

export interface DeployOptions extends RunOptions {
  message?: string;
  /** strategy canary: stop once the canary hosts are switched and healthy (the rest stay prepared) */
  canaryOnly?: boolean;
  /** switch the hosts not yet on the last `--canary-only` release to it */
  promote?: boolean;
}

/** `prepared`: holds the new release but `current` was not switched (the rest after --canary-only) */
export type HostOutcomeState = 'deployed' | 'prepared' | 'unchanged' | 'rolled_back' | 'failed' | 'needs_human';

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
  strategy: StrategyName;
  /** the hosts switched first (strategy canary, or the canary a --promote came from) */
  canary?: string[];
  promote?: boolean;
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
  /** hosts whose `current` now points at the new release (rolled back if the run fails) */
  switched: HostSession[];
  plan: StrategyPlan<HostSession>;
  /** hosts that need the release uploaded (a --promote skips hosts that already hold it) */
  toPrepare: Set<HostSession>;
  /** --promote: hosts already on the release (the canary) when the run started */
  alreadyLive: Set<HostSession>;
  canary?: string[];
  promote?: boolean;
  /** REVISION_TIME of the release when it is not this run's start (--promote: the canary's) */
  revisionTime?: string;
}

export async function deploy(o: DeployOptions): Promise<DeployResult> {
  const { config, reporter } = o;
  if (o.canaryOnly && o.promote) throw new UsageError('--canary-only and --promote cannot be used together');
  if (o.canaryOnly && config.env.strategy !== 'canary') throw new UsageError(`--canary-only needs \`strategy: canary\` in environment ${config.envName} (it is ${config.env.strategy})`);
  if (o.promote) return promote(o);
  const started = Date.now();
  const hosts = o.hosts ?? config.hosts;
  // two `git` processes: they run while the source is scanned and the hosts connect
  const identity = Promise.all([performer(config.dir, o.env), gitInfo(config.sourceDir)]);
  const warnings: string[] = [];
  reporter.info(`deploying ${config.project} to ${config.envName} (${hosts.map((h) => h.id).join(', ')})${o.dryRun ? ' [dry run]' : ''}`);

  if (!o.dryRun && config.raw.notifications) {
    const [user, git] = await identity;
    await notify(o, { level: 'started', action: 'deploy', user, commit: git.sha, hosts: hosts.map((h) => h.id), status: 'started' }, warnings);
  }

  // connecting changes nothing on the hosts: it runs while the source is scanned
  let transports: ReturnType<typeof connectHosts> | undefined;
  const tree = await buildSource(o, () => (transports = connectHosts({ config, hosts, reporter, interactive: o.interactive, dryRun: o.dryRun }))).catch(async (e: unknown) => {
    await closeHosts(transports);
    throw e;
  });
  const [user, git] = await identity;
  const revision = revisionOf(git, treeFingerprint(tree));

  const sessions = await openSessions({ config, hosts, reporter, user, command: 'deploy', interactive: o.interactive, dryRun: o.dryRun, lockWaitMs: o.lockWaitMs, message: o.message, signal: o.signal, manifests: knownManifests(), transports });
  const allIds = sessions.hosts.flatMap((s) => s.state.releases.map((r) => r.id));
  const plan = planStrategy(sessions.hosts, config.env, { preferCanary: (s) => s.host.roles.includes('canary') || s.host.tags.includes('canary') });
  const run = newRun({ o, sessions, id: newReleaseId(allIds), user, git, revision, started, warnings, plan, toPrepare: sessions.hosts });
  if (plan.strategy === 'canary') run.canary = plan.waves[0].hosts.map((s) => s.host.id);
  try {
    return await pipeline(run, tree);
  } finally {
    await sessions.close();
  }
}

function newRun(a: { o: DeployOptions; sessions: Sessions; id: string; user: string; git: GitInfo; revision: string; started: number; warnings: string[]; plan: StrategyPlan<HostSession>; toPrepare: HostSession[]; alreadyLive?: HostSession[] }): Run {
  const run: Run = {
    o: a.o,
    sessions: a.sessions,
    id: a.id,
    user: a.user,
    git: a.git,
    revision: a.revision,
    started: a.started,
    startedIso: new Date(a.started).toISOString(),
    warnings: a.warnings,
    outcomes: new Map(),
    health: [],
    switched: [],
    plan: a.plan,
    toPrepare: new Set(a.toPrepare),
    alreadyLive: new Set(a.alreadyLive ?? []),
  };
  for (const s of a.sessions.hosts) run.outcomes.set(s.host.id, { host: s.host.id, state: 'unchanged', current: s.state.current, previous: fromOf(run, s) });
  return run;
}

/** The release `current` pointed at before this deploy (for a --promote's canary: before the canary). */
function fromOf(run: Run, s: HostSession): string | undefined {
  return s.state.current === run.id ? previousRelease(s.state.releases, run.id) : s.state.current;
}

/** Local steps (before_upload hooks, build) and the source scan: nothing remote is touched if they fail. */
async function buildSource(o: DeployOptions, beforeScan?: () => void): Promise<SourceTree> {
  const { config, reporter } = o;
  for (const h of config.raw.hooks.before_upload) {
    if (o.dryRun) reporter.info(`[dry-run] local: before_upload hook: ${h}`);
    else await runLocalCommand(h, { cwd: config.dir, reporter, step: 'before_upload hook', signal: o.signal });
  }
  if (config.raw.source.build) {
    if (o.dryRun) reporter.info(`[dry-run] local: build: ${config.raw.source.build}`);
    else await runLocalCommand(config.raw.source.build, { cwd: config.dir, reporter, step: 'build', signal: o.signal });
  }
  if (o.signal?.aborted) throw new InterruptedError('interrupted before upload; nothing was touched');
  beforeScan?.();
  const tree = o.dryRun ? await scanSource(config.sourceDir, config.raw.source.exclude).catch(() => emptyTree(config.sourceDir)) : await scanSource(config.sourceDir, config.raw.source.exclude);
  reporter.info(`source ${config.sourceDir}: ${tree.files} files, ${formatBytes(tree.totalBytes)}`);
  return tree;
}

/**
 * `deploy --promote`: find the newest `--canary-only` release in the selected hosts' history,
 * check nothing happened since (no other deploy or rollback), prepare it where it is missing (same
 * release id, only from the same commit / content), then switch the hosts not on it yet, in the
 * environment's waves (`batch`/`pause`), with post checks. Once the first of them switches, a
 * failure rolls back every host on the release, the canary included.
 */
async function promote(o: DeployOptions): Promise<DeployResult> {
  const { config, reporter } = o;
  const started = Date.now();
  const hosts = o.hosts ?? config.hosts;
  const user = await performer(config.dir, o.env);
  const warnings: string[] = [];
  reporter.info(`promoting the canary of ${config.project} on ${config.envName} (${hosts.map((h) => h.id).join(', ')})${o.dryRun ? ' [dry run]' : ''}`);
  const sessions = await openSessions({ config, hosts, reporter, user, command: 'deploy', interactive: o.interactive, dryRun: o.dryRun, lockWaitMs: o.lockWaitMs, message: o.message ?? 'promote', signal: o.signal, manifests: knownManifests() });
  try {
    const record = await findCanary(o, sessions);
    const id = record.id;
    const live = sessions.hosts.filter((s) => s.state.current === id);
    const targets = sessions.hosts.filter((s) => s.state.current !== id);
    for (const h of record.canary ?? []) {
      const s = sessions.hosts.find((x) => x.host.id === h);
      if (s && s.state.current !== id) throw new UsageError(`canary host ${h} is no longer on ${id} (current: ${s.state.current ?? 'none'}); nothing to promote — deploy again`);
    }
    if (targets.length === 0) throw new UsageError(`release ${id} is already current on every selected host; nothing to promote`);
    const missing = targets.filter((s) => !s.state.releases.some((r) => r.id === id));
    const bad = targets.find((s) => s.state.releases.some((r) => r.id === id && r.bad));
    if (bad) throw new UsageError(`${bad.host.id}: release ${id} is marked BAD_RELEASE; deploy again instead of promoting it`);
    reporter.info(`canary release ${id} (${record.commit?.slice(0, 12) ?? 'unknown commit'}, by ${record.user}) is live on ${live.map((s) => s.host.id).join(', ') || (record.canary ?? []).join(', ') || 'the canary'}; promoting to ${targets.map((s) => s.host.id).join(', ')}`);
    let tree = emptyTree(config.sourceDir);
    if (missing.length) {
      // hosts that never got the canary's release (added since, or left out by --hosts): upload it
      // under the same id, but only from the very same source
      reporter.info(`${missing.map((s) => s.host.id).join(', ')}: release ${id} is not prepared there; uploading it from ${config.sourceDir}`);
      tree = await buildSource(o);
      const git = await gitInfo(config.sourceDir);
      const revision = revisionOf(git, treeFingerprint(tree));
      if (!o.dryRun && record.commit && revision !== record.commit) {
        throw new UsageError(`cannot prepare ${id} on ${missing.map((s) => s.host.id).join(', ')}: the local source is at ${revision.slice(0, 12)} but the canary runs ${record.commit.slice(0, 12)}; check out that commit, or deploy afresh`);
      }
    }
    const env = config.env;
    // the rest moves like the rest of a canary deploy: in `batch` waves when set, else all at once
    const plan = planStrategy(targets, { strategy: env.batch !== undefined || env.strategy === 'rolling' ? 'rolling' : 'parallel', batch: env.batch, pause: env.pause });
    plan.prepare = 'upfront';
    const run = newRun({ o, sessions, id, user, git: { branch: record.branch }, revision: record.commit ?? id, started, warnings, plan, toPrepare: missing, alreadyLive: live });
    run.promote = true;
    run.revisionTime = record.started;
    run.canary = record.canary ?? live.map((s) => s.host.id);
    if (!o.dryRun) await notify(o, { level: 'started', action: 'deploy', user, commit: run.revision, release: id, hosts: hosts.map((h) => h.id), status: 'started' }, warnings);
    return await pipeline(run, tree);
  } catch (e) {
    await releaseLocks(sessions);
    throw e;
  } finally {
    await sessions.close();
  }
}

/** The newest `--canary-only` record in the hosts' history, refused if anything was deployed or rolled back since. */
async function findCanary(o: DeployOptions, sessions: Sessions): Promise<HistoryRecord> {
  const histories = new Map<HostSession, HistoryRecord[]>();
  await forEachLimited(sessions.hosts, o.config.env.max_parallel, async (s) => {
    const r = await execChecked(s.t, readHistoryScript(s.host.path, 100), 'read history', { readOnly: true });
    histories.set(s, parseHistory(parseHistoryLines(r.stdout)));
  });
  let canary: HistoryRecord | undefined;
  for (const records of histories.values())
    for (const r of records) if (r.action === 'deploy' && r.status === 'canary' && (!canary || r.started > canary.started)) canary = r;
  if (!canary) throw new UsageError(`no canary release to promote on ${sessions.hosts.map((s) => s.host.id).join(', ')}: run \`ee-deploy deploy --canary-only\` first`);
  for (const [s, records] of histories) {
    // earlier promotes of the same release (partial, or failed before switching) do not count;
    // whether the canary is still live is checked against `current` by the caller
    const since = records.find((r) => r.started > canary!.started && !(r.action === 'deploy' && r.id === canary!.id));
    if (since) throw new UsageError(`${s.host.id}: the canary ${canary.id} was followed by a ${since.action} (${since.status}) of ${since.id} at ${since.started}; nothing to promote — deploy again`);
  }
  return canary;
}

async function pipeline(run: Run, tree: SourceTree): Promise<DeployResult> {
  const { o, sessions, plan } = run;
  const { reporter, config } = o;
  reporter.info(`release ${run.id}`);
  if (plan.strategy !== 'parallel' || run.promote) reporter.info(`${run.promote ? 'promote, ' : ''}${describePlan(plan, (s) => s.host.id, formatDuration)}`);
  try {
    preflight(run, tree);
    await writeEnvFile(config, sessions.hosts, o);
    if (plan.prepare === 'upfront') await preparePhase(run, tree, plan.waves.flatMap((w) => w.hosts));
    for (const wave of plan.waves) {
      if (plan.prepare === 'per-wave') await preparePhase(run, tree, wave.hosts, wave);
      checkInterrupt(run, 'before the switch');
      // from the first switch on, a failure rolls back every host on the release (a --promote's canary too)
      for (const s of run.alreadyLive) if (!run.switched.includes(s)) run.switched.push(s);
      await switchAll(run, wave.hosts, wave);
      await postChecks(run, wave);
      if (o.canaryOnly && wave.kind === 'canary') return await finishCanary(run, wave);
      if (wave.pauseAfterMs > 0 && wave !== plan.waves[plan.waves.length - 1]) {
        reporter.info(`${wave.label} done; pausing ${formatDuration(wave.pauseAfterMs)} before the next`);
        if (!o.dryRun) await sleep(wave.pauseAfterMs, o.signal);
        checkInterrupt(run, `during the pause after ${wave.label}`);
      }
    }
  } catch (e) {
    // nothing or only part of the fleet switched, or checks failed: put every switched host back, drop the release
    return await failBeforeDone(run, e);
  }

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
  reporter.success(`${config.project} ${run.id} is live on ${config.envName}${run.promote ? ` (promoted from the canary)` : ''} (${formatDuration(durationMs)})${o.dryRun ? ' [dry run: nothing was changed]' : ''}`);
  for (const s of sessions.hosts) if (s.host.local) reporter.info(`current -> ${layout(s.host.path).release(run.id)}`);
  return result;
}

/** Phase one for `hosts`: upload + shared links + before_switch hooks, then the pre checks. */
async function preparePhase(run: Run, tree: SourceTree, hosts: HostSession[], wave?: Wave<HostSession>): Promise<void> {
  const todo = hosts.filter((s) => run.toPrepare.has(s));
  if (todo.length === 0) return;
  if (wave && wave.kind !== 'all') run.o.reporter.info(`${wave.label}: ${todo.map((s) => s.host.id).join(', ')}`);
  await prepareAll(run, tree, todo);
  checkInterrupt(run, 'before the switch');
  const pre = await runChecks(run.o, 'pre', todo.map((s) => ({ host: s.host.id, transport: s.t, cwd: layout(s.host.path).release(run.id) })));
  if (pre) {
    run.health.push(pre);
    if (!pre.ok) throw new DeployError(pre.summary, { step: 'pre health checks', host: failedHost(pre) });
  }
}

/**
 * Post checks on a wave just switched. A canary wave is watched: the checks re-run every few
 * seconds (canaryCheckInterval) until `canary.wait` has passed, at least once.
 */
async function postChecks(run: Run, wave: Wave<HostSession>): Promise<void> {
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
    const post = await runChecks(o, 'post', targets);
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

function failedHost(c: CheckOutcome): string | undefined {
  return (c.results as { ok?: boolean; host?: string }[]).find((r) => r.ok === false && r.host)?.host;
}

/**
 * `--canary-only`: the canary is live and healthy; the other hosts keep the release prepared for
 * `deploy --promote`. History records status `canary` on every host; the lock is released.
 */
async function finishCanary(run: Run, wave: Wave<HostSession>): Promise<DeployResult> {
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
  result.notifications = o.dryRun ? [] : await notify(o, { ...eventFrom(run, 'success', durationMs), status: 'canary', hosts: wave.hosts.map((s) => s.host.id) }, run.warnings);
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

function preflight(run: Run, tree: SourceTree): void {
  if (run.o.dryRun) return;
  for (const s of run.toPrepare) {
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
    EE_PREVIOUS_RELEASE: fromOf(run, s) ?? '',
    EE_HOST: s.host.id,
    EE_USER: run.user,
  };
}

async function prepareAll(run: Run, tree: SourceTree, hosts: HostSession[]): Promise<void> {
  const { o } = run;
  const cfg = o.config.raw;
  // one archive per group of hosts needing the same bytes, streamed to all of them at once;
  // unchanged files (vs. the release `current` points at) arrive as hard links (upload.ts)
  const upload = UploadPlan.create({
    tree,
    id: run.id,
    targets: hosts.map((s) => ({ key: s, gzip: s.t.isLocal || s.t.loopback || isLoopback(s.host) ? false : NETWORK_GZIP_LEVEL, manifest: cfg.source.hard_links === false ? undefined : s.state.manifest })),
    shared: [...cfg.shared.dirs, ...cfg.shared.files],
    limit: o.config.env.max_parallel,
    dryRun: o.dryRun,
  });
  const u = upload.summary;
  const what = u.incremental ? `${u.sent} changed of ${tree.files} files (${formatBytes(u.sentBytes)}; ${u.linked} unchanged, hard-linked)` : `${tree.files} files (${formatBytes(tree.totalBytes)})`;
  const step = o.reporter.step(`uploading ${what} to ${hosts.length} host(s)`);
  const errors: EeError[] = [];
  await upload.forEach(async (s, send) => {
    try {
      const r = await send((archive) => execChecked(
        s.t,
        prepareScript({
          root: s.host.path,
          id: run.id,
          gzip: archive.gzip,
          rootArchive: archive.rootArchive,
          sharedDirs: cfg.shared.dirs,
          sharedFiles: cfg.shared.files,
          revision: run.revision,
          revisionTime: run.revisionTime ?? run.startedIso,
          hooks: cfg.hooks.before_switch,
          hookEnv: hookEnv(run, s),
          lockToken: run.sessions.token,
        }),
        'prepare',
        { stdin: archive.stdin, onStdout: (d) => o.reporter.output(s.host.id, d), signal: o.signal },
      ));
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
        // output() shows only with --verbose: the lines that explain a failure are always shown
        if (text) o.reporter.info(`output on ${s.host.id} (last lines):\n${tail(text, 20)}`);
      }
      errors.push(err);
    }
  });
  upload.saveCaches();
  if (errors.length) {
    step.fail(`prepare failed on ${errors.length} of ${hosts.length} host(s)`);
    const first = errors[0];
    if (errors.length > 1) first.message += ` (and ${errors.length - 1} more host(s) failed)`;
    throw first;
  }
  step.succeed(`release ${run.id} prepared on ${hosts.length} host(s)`);
}

function describeStep(e: EeError): string {
  const hook = parseHookFailure('stdout' in e ? String((e as { stdout: string }).stdout) : '');
  if (hook) return `${hook.phase} hook #${hook.index + 1}`;
  return e.step ?? 'prepare';
}

async function switchAll(run: Run, hosts: HostSession[], wave?: Wave<HostSession>): Promise<void> {
  const { o } = run;
  const step = o.reporter.step(`switching current to ${run.id}${wave && wave.kind !== 'all' ? ` (${wave.label}: ${hosts.map((s) => s.host.id).join(', ')})` : ''}`);
  const errors: EeError[] = [];
  await forEachLimited(hosts, o.config.env.max_parallel, async (s) => {
    try {
      const r = await s.t.exec(
        switchScript({ root: s.host.path, id: run.id, hooks: o.config.raw.hooks.after_switch, hookEnv: hookEnv(run, s), phase: 'after_switch', lockToken: run.sessions.token }),
        { onStdout: (d) => o.reporter.output(s.host.id, d) },
      );
      const answer = parseSwitch(r.stdout, 'after_switch');
      if (answer.switched === run.id) run.switched.push(s);
      if (r.code !== 0) {
        const hook = answer.hookFailed;
        const what = hook ? `after_switch hook #${hook.index + 1} failed (exit ${hook.code})` : 'switch failed';
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
async function failBeforeDone(run: Run, e: unknown, reconnected = false): Promise<never> {
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
async function failAfterDrop(run: Run, err: ConnectionError): Promise<never> {
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
  await forEachLimited(run.switched, o.config.env.max_parallel, async (s) => {
    const from = fromOf(run, s);
    const prev = from && s.state.releases.some((r) => r.id === from) ? from : previousRelease(s.state.releases, run.id);
    if (!prev) {
      stranded.push(s);
      states.push({ host: s.host.id, state: `still on the new release ${run.id}: there is no previous release to roll back to`, current: run.id });
      return;
    }
    const r = await s.t.exec(switchScript({ root: s.host.path, id: prev, hooks: o.config.raw.hooks.after_rollback, hookEnv: { ...hookEnv(run, s), EE_RELEASE: prev, EE_FAILED_RELEASE: run.id }, phase: 'after_rollback' }), {
      onStdout: (d) => o.reporter.output(s.host.id, d),
    }).catch((e: Error) => ({ code: -1, stdout: '', stderr: e.message }));
    const switchedBack = parseSwitch(r.stdout).switched === prev;
    const out = run.outcomes.get(s.host.id)!;
    if (switchedBack) {
      out.current = prev;
      back.push(s);
      if (r.code !== 0) states.push({ host: s.host.id, state: `back on ${prev}, but an after_rollback hook failed`, current: prev });
    } else {
      stranded.push(s);
      states.push({ host: s.host.id, state: `rollback to ${prev} failed (${redact(r.stderr.trim().split('\n').pop() ?? 'unknown error')}); current is ${run.id}`, current: run.id });
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
      from: fromOf(run, s),
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
      ...(run.canary ? { canary: run.canary } : {}),
      ...(run.promote ? { promote: true } : {}),
    };
    // after a success, and after a failure that left the host back on its previous release (the
    // new one marked): marked releases do not count toward keep, so the last good one always stays
    const releases = [...s.state.releases.filter((r) => r.id !== run.id), { id: run.id, bad: status !== 'success' }];
    const prune = status === 'success' || (status === 'rolled_back' && run.switched.includes(s)) ? selectPrune(releases, keep, status === 'success' ? run.id : out.current) : [];
    const wasSwitched = run.switched.includes(s);
    const deployed = deployedLine({ branch: run.git.branch, sha: run.git.sha ?? run.revision, release: run.id, user: run.user });
    const r = await s.t
      .exec(
        finishScript({
          root: s.host.path,
          historyLine: historyLine(record),
          // the canary of a --promote logged its line when it went live; the rest of a --canary-only has none yet
          revisionsLine:
            status === 'success' ? (run.alreadyLive.has(s) ? undefined : deployed)
            : status === 'canary' ? (wasSwitched ? deployed : undefined)
            : wasSwitched && out.current !== run.id ? rolledBackLine({ user: run.user, release: out.current ?? '' }) : undefined,
          // a switched-then-rolled-back release stays for inspection, marked; one that never went live
          // is removed (where this run uploaded it: a failed --promote keeps the canary's prepared copies)
          markBad: f.markBad && wasSwitched ? { id: run.id, text: `${new Date().toISOString()},${run.user}` } : undefined,
          removeRelease: f.removeRelease && !wasSwitched && !isCurrent && run.toPrepare.has(s) ? run.id : undefined,
          // --canary-only: the rest keep the release prepared for `deploy --promote`
          keepPrepared: status === 'canary' && !wasSwitched && run.toPrepare.has(s) ? run.id : undefined,
          prune,
          unlockToken: sessions.token,
        }),
      )
      .catch((e: Error) => ({ code: -1, stdout: '', stderr: e.message }));
    if (r.code === 0) {
      s.locked = false;
      const pruned = parseFinish(r.stdout).pruned;
      out.pruned = prune.filter((id) => pruned.includes(id));
    } else {
      run.warnings.push(redact(`${s.host.id}: could not record history / release the lock: ${r.stderr.trim().split('\n').pop() ?? ''}`));
    }
  });
  // a host whose finish failed (e.g. connection lost) still holds our lock: try once more
  await releaseLocks(sessions);
}

function makeResult(run: Run, status: HistoryStatus, durationMs: number): DeployResult {
  return {
    ok: status === 'success' || status === 'canary',
    action: 'deploy',
    project: run.o.config.project,
    env: run.o.config.envName,
    release: run.id,
    status,
    strategy: run.plan.strategy,
    ...(run.canary ? { canary: run.canary } : {}),
    ...(run.promote ? { promote: true } : {}),
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
