/**
 * The deploy pipeline. Per host the remote work is batched into a few execs:
 *   open (layout + lock + state) -> prepare (upload, shared links, before_switch hooks)
 *   -> switch (+ after_switch hooks) -> finish (history, revisions.log, prune, unlock).
 * The fleet moves in waves planned by strategy.ts (parallel: one wave; rolling: batches;
 * canary: the canary, watched, then the rest). Every host of a wave is prepared before any of
 * them is switched (parallel and canary prepare the whole fleet first), so a failure while
 * preparing leaves every `current` untouched; a failure after the first switch (a later wave's
 * prepare, a switch, post checks) rolls every switched host back, so the fleet ends on one release.
 * `--canary-only` stops after the canary wave; `--promote` (promote.ts) switches the rest later.
 *
 * Where each part lives: run.ts (a run's state), local-steps.ts (hooks, build, scan), pipeline.ts
 * (the waves), prepare.ts / switch.ts (the two remote steps of a wave), recovery.ts (failure and
 * auto-rollback), records.ts (finish: history, prune, unlock; the result), promote.ts.
 */
import { DeployError, UsageError } from '../errors.js';
import { newReleaseId } from '../remote/release-id.js';
import { gitInfo, performer, revisionOf } from './identity.js';
import { closeHosts, connectHosts, openSessions, releaseLocks, type Sessions } from './session.js';
import { treeFingerprint } from '../release/scan.js';
import { knownManifests } from '../release/manifest-cache.js';
import { notify } from './checks.js';
import { planStrategy } from './strategy.js';
import { buildSource } from './local-steps.js';
import { dbHost } from './db-steps.js';
import { ifUnchanged } from './if-changed.js';
import { pipeline } from './pipeline.js';
import { promote } from './promote.js';
import { policyPreflight, requireApprovals } from './policy-gate.js';
import { hasRules } from '../policy/evaluate.js';
import type { DeployResult } from './records.js';
import { newRun, type DeployOptions } from './run.js';

export type { DeployOptions, HostOutcome, HostOutcomeState } from './run.js';
export type { DeployResult } from './records.js';

export async function deploy(o: DeployOptions): Promise<DeployResult> {
  const { config, reporter } = o;
  if (o.canaryOnly && o.promote) throw new UsageError('--canary-only and --promote cannot be used together');
  if (o.canaryOnly && config.env.strategy !== 'canary') throw new UsageError(`--canary-only needs \`strategy: canary\` in environment ${config.envName} (it is ${config.env.strategy})`);
  if (o.ifChanged && (o.promote || o.canaryOnly)) throw new UsageError(`--if-changed cannot be combined with --${o.promote ? 'promote' : 'canary-only'}`);
  const started = Date.now();
  const hosts = o.hosts ?? config.hosts;
  // two `git` processes: they run while the source is scanned and the hosts connect
  const identity = Promise.all([performer(config.dir, o.env), gitInfo(config.sourceDir)]);
  const warnings: string[] = [];
  // deploy policy: refused before anything is built, connected or touched (exit 6)
  const gate = { config, hosts, interactive: o.interactive, dryRun: o.dryRun, override: o.overridePolicy };
  if (hasRules(config.policy)) {
    const [user, git] = await identity;
    const overridden = await policyPreflight(gate, o.promote ? 'promote' : 'deploy', user, git);
    if (overridden.length) {
      for (const w of overridden) reporter.warn(w);
      warnings.push(...overridden);
      if (!o.dryRun) await notify(o, { level: 'warning', action: 'deploy', user, commit: git.sha, hosts: hosts.map((h) => h.id), status: 'policy_override', error: overridden.join('; ') }, warnings);
    }
  }
  if (o.promote) return promote(o, warnings);
  const db = dbHost(config, hosts);
  reporter.info(`deploying ${config.project} to ${config.envName} (${hosts.map((h) => h.id).join(', ')})${o.dryRun ? ' [dry run]' : ''}`);

  const notifyStarted = async () => {
    if (o.dryRun || !config.raw.notifications) return;
    const [user, git] = await identity;
    const run = new Date(started).toISOString();
    await notify(o, { level: 'started', action: 'deploy', user, commit: git.sha, hosts: hosts.map((h) => h.id), status: 'started', run, runStarted: run }, warnings);
  };
  // --if-changed: "started" only once it is known something will be deployed
  if (!o.ifChanged) await notifyStarted();

  // connecting changes nothing on the hosts: it runs while the source is scanned
  let transports: ReturnType<typeof connectHosts> | undefined;
  const buildStarted = Date.now();
  const tree = await buildSource(o, () => (transports = connectHosts({ config, hosts, reporter, interactive: o.interactive, dryRun: o.dryRun, signal: o.signal }))).catch(async (e: unknown) => {
    await closeHosts(transports);
    throw e;
  });
  const buildDone = Date.now();
  const [user, git] = await identity;
  await requireApprovals(gate, user, git, tree).catch(async (e: unknown) => {
    await closeHosts(transports);
    throw e;
  });
  const revision = revisionOf(git, treeFingerprint(tree));

  const sessions = await openSessions({ config, hosts, reporter, user, command: 'deploy', interactive: o.interactive, dryRun: o.dryRun, lockWaitMs: o.lockWaitMs, message: o.message, signal: o.signal, manifests: knownManifests(), transports, force: o.force });
  if (o.ifChanged) {
    const unchanged = await ifUnchanged(o, sessions, tree, { user, git, started, warnings });
    if (unchanged) return unchanged;
    await notifyStarted();
  }
  const id = await chooseReleaseId(sessions);
  const plan = planStrategy(sessions.hosts, config.env, { preferCanary: (s) => s.host.roles.includes('canary') || s.host.tags.includes('canary') });
  // migrations run once every host holds the new release and before any switch: a rolling
  // deploy then prepares all its batches first (it still switches them batch by batch)
  if (db) plan.prepare = 'upfront';
  const run = newRun({ o, sessions, id, user, git, revision, started, warnings, plan, toPrepare: sessions.hosts });
  run.db = db;
  if (plan.strategy === 'canary') run.canary = plan.waves[0].hosts.map((s) => s.host.id);
  run.steps.build = buildDone - buildStarted;
  try {
    return await pipeline(run, tree);
  } finally {
    await sessions.close();
  }
}

/**
 * The new release's id: after every release on every host, and not the name of a foreign entry
 * (a directory made by hand named like an id is only stepped over: it never sets the order).
 * None free (a release named 99991231235959): an error that says so, the lock given back.
 */
async function chooseReleaseId(sessions: Sessions): Promise<string> {
  const ids = sessions.hosts.flatMap((s) => s.state.releases.map((r) => r.id));
  const taken = new Set(sessions.hosts.flatMap((s) => s.state.foreign));
  try {
    let id = newReleaseId(ids);
    while (taken.has(id)) id = newReleaseId([...ids, id]);
    return id;
  } catch (e) {
    await releaseLocks(sessions);
    await sessions.close();
    throw new DeployError(`${(e as Error).message}: a release in releases/ is named after every possible time (remove or rename it)`, { step: 'open' });
  }
}
