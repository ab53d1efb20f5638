/** `deploy --promote`: the rest of the fleet onto the release a `deploy --canary-only` left on the canary. */
import { UsageError } from '../errors.js';
import { parseHistory, type HistoryRecord } from '../history/record.js';
import { parseHistoryLines, readHistoryScript } from '../remote/steps/inspect.js';
import { gitInfo, performer, revisionOf } from './identity.js';
import { execChecked } from './remote.js';
import { openSessions, releaseLocks, type HostSession, type Sessions } from './session.js';
import { treeFingerprint } from '../release/scan.js';
import { knownManifests } from '../release/manifest-cache.js';
import { notify } from './checks.js';
import { planStrategy } from './strategy.js';
import { buildSource, emptyTree } from './local-steps.js';
import { pipeline } from './pipeline.js';
import type { DeployResult } from './records.js';
import { type DeployOptions, newRun } from './run.js';
import { forEachLimited } from '../util/concurrency.js';

/**
 * `deploy --promote`: find the newest `--canary-only` release in the selected hosts' history,
 * check nothing happened since (no other deploy or rollback), prepare it where it is missing (same
 * release id, only from the same commit / content), then switch the hosts not on it yet, in the
 * environment's waves (`batch`/`pause`), with post checks. Once the first of them switches, a
 * failure rolls back every host on the release, the canary included.
 */
/** `warnings`: what the run already has to record (a policy override) */
export async function promote(o: DeployOptions, warnings: string[] = []): Promise<DeployResult> {
  const { config, reporter } = o;
  const started = Date.now();
  const hosts = o.hosts ?? config.hosts;
  const user = await performer(config.dir, o.env);
  reporter.info(`promoting the canary of ${config.project} on ${config.envName} (${hosts.map((h) => h.id).join(', ')})${o.dryRun ? ' [dry run]' : ''}`);
  const sessions = await openSessions({ config, hosts, reporter, user, command: 'deploy', interactive: o.interactive, dryRun: o.dryRun, lockWaitMs: o.lockWaitMs, message: o.message ?? 'promote', signal: o.signal, manifests: knownManifests(), force: o.force });
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
    if (!o.dryRun) await notify(o, { level: 'started', action: 'deploy', user, commit: run.revision, release: id, hosts: hosts.map((h) => h.id), status: 'started', run: run.startedIso, runStarted: run.startedIso }, warnings);
    return await pipeline(run, tree);
  } catch (e) {
    await releaseLocks(sessions);
    throw e;
  } finally {
    await sessions.close();
  }
}

/** The newest `--canary-only` record in the hosts' history, refused if anything was deployed or rolled back since. */
export async function findCanary(o: DeployOptions, sessions: Sessions): Promise<HistoryRecord> {
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
