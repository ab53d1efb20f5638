/** What a deploy leaves behind: the finish step (history, revisions.log, prune, unlock) and the result document. */
import { redact } from '../config/secrets.js';
import { writtenHistoryLine, deployedLine, rolledBackLine, type HistoryRecord, type HistoryStatus } from '../history/record.js';
import { finishScript, parseFinish } from '../remote/steps/finish.js';
import { selectPrune } from '../remote/steps/prune.js';
import { machineName } from './identity.js';
import { changesSince, commitTime, type Change } from './git-changes.js';
import type { HostSession } from './session.js';
import { releaseLocks } from './session.js';
import type { CheckOutcome } from './checks.js';
import type { StrategyName } from './strategy.js';
import { type HostOutcome, type Run, fromOf } from './run.js';
import { forEachLimited } from '../util/concurrency.js';

export interface DeployResult {
  ok: boolean;
  action: 'deploy';
  project: string;
  env: string;
  release: string;
  /** `unchanged`: --if-changed found every host on this content; nothing was done */
  status: HistoryStatus | 'unchanged';
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

/**
 * Last exec per host: history, revisions.log, BAD_RELEASE or removal of the failed release,
 * pruning (success only), unlock.
 */
export async function finishAll(run: Run, status: HistoryStatus, durationMs: number, f: { removeRelease?: boolean; markBad?: boolean; error?: string } = {}): Promise<void> {
  const { o, sessions } = run;
  const keep = o.config.raw.keep_releases;
  const shipped = await whatShipped(run);
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
      project: o.config.project,
      run: run.runId,
      live_at: run.liveAt.get(s),
      commit_time: shipped.commitTime,
      changes: shipped.changes.get(s),
      steps: run.steps,
      bytes_sent: run.bytesSent,
      files_changed: run.filesChanged,
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
          historyLine: await writtenHistoryLine(record, s.state.lastHistory, s.t.signer),
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
          pruneBackupsBefore: status === 'success' ? run.id : undefined,
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

/**
 * The head commit's time and, per host, the commits new since the release it replaced (git, in the
 * source's work tree). Not from git: neither.
 */
async function whatShipped(run: Run): Promise<{ commitTime?: string; changes: Map<HostSession, Change[]> }> {
  const changes = new Map<HostSession, Change[]>();
  const head = run.git.sha;
  if (!head || run.o.dryRun) return { changes };
  const dir = run.o.config.sourceDir;
  const byPrevious = new Map<string, Promise<Change[]>>();
  const [commitTimeIso] = await Promise.all([
    commitTime(dir, head),
    ...run.sessions.hosts.map(async (s) => {
      const from = fromOf(run, s);
      const prev = from ? s.state.releases.find((r) => r.id === from)?.revision : undefined;
      const key = prev ?? '';
      if (!byPrevious.has(key)) byPrevious.set(key, changesSince(dir, head, prev));
      changes.set(s, await byPrevious.get(key)!);
    }),
  ]);
  return { commitTime: commitTimeIso, changes };
}

export function makeResult(run: Run, status: HistoryStatus, durationMs: number): DeployResult {
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

export function eventFrom(run: Run, level: 'success' | 'failure' | 'rollback', durationMs: number) {
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
