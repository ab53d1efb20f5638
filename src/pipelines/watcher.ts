/**
 * One cycle of pull mode, shared by `watch` (on a timer) and `webhook` (on a push): fetch the
 * branch, fast-forward the work tree, deploy when the branch moved past what this process last
 * deployed. Each cycle ends in exactly one CycleResult (one log line); a failure of any part is
 * a result, never an exception, so the caller simply goes on with the next cycle.
 *
 * Retry policy: a commit whose deploy failed on its own merits (exit 1, 2 or 5: its build, hooks
 * or checks) is not deployed again until the branch moves, so a broken commit does not turn into
 * a new failed release (and a notification) every interval. A deploy that could not start for
 * reasons outside the commit (lock held, connection lost, interrupted) is retried next cycle.
 */
import { formatDuration } from '../config/duration.js';
import { redact } from '../config/secrets.js';
import type { ResolvedConfig } from '../config/resolve.js';
import { notify } from '../deploy/checks.js';
import { deploy, type DeployResult } from '../deploy/deploy.js';
import { machineName, performer } from '../deploy/identity.js';
import { EeError, ExitCode, InterruptedError, LockHeldError } from '../errors.js';
import { LineReporter, type Reporter } from '../ui/reporter.js';
import { fetchAndFastForward, GitError, workTree } from './git.js';

export type CycleStatus = 'deployed' | 'unchanged' | 'up-to-date' | 'held' | 'locked' | 'fetch-failed' | 'deploy-failed' | 'config-error' | 'interrupted';

export interface CycleResult {
  cycle: number;
  status: CycleStatus;
  branch: string;
  /** the commit checked out after the fetch */
  commit?: string;
  /** the commit checked out before (when the branch moved) */
  from?: string;
  release?: string;
  exitCode?: number;
  error?: string;
  durationMs: number;
  /** why this cycle ran (webhook: the delivery; watch: the timer) */
  trigger?: string;
}

export interface WatcherOptions {
  /** reads the config afresh: a fast-forward may have changed it */
  load: () => ResolvedConfig | Promise<ResolvedConfig>;
  branch: string;
  verbose?: boolean;
  /** aborted on SIGTERM/SIGINT: a running fetch is killed, a running deploy cleans up */
  signal?: AbortSignal;
  /** where a deploy's own progress goes with --verbose (default: stdout lines) */
  deployReporter?: Reporter;
}

export class Watcher {
  private n = 0;
  /** the commit this process last saw deployed (or already live) */
  private live?: string;
  /** a commit whose deploy failed on its own merits: held until the branch moves */
  private failed?: string;
  /** the failure last notified (kind and commit): a failure repeating every cycle is notified once */
  private notified?: string;

  constructor(private readonly o: WatcherOptions) {}

  async cycle(trigger?: string): Promise<CycleResult> {
    const t0 = Date.now();
    const base = { cycle: ++this.n, branch: this.o.branch, trigger };
    const done = (r: Omit<CycleResult, 'cycle' | 'branch' | 'durationMs' | 'trigger'>): CycleResult => ({ ...base, ...r, durationMs: Date.now() - t0, ...(r.error ? { error: redact(oneLine(r.error)) } : {}) });
    let config: ResolvedConfig;
    try {
      config = await this.o.load();
    } catch (e) {
      return done({ status: 'config-error', error: (e as Error).message, exitCode: e instanceof EeError ? e.exitCode : ExitCode.usage });
    }
    let sync;
    try {
      const repo = await workTree([config.sourceDir, config.dir]);
      sync = await fetchAndFastForward(repo, this.o.branch, { signal: this.o.signal });
      if (this.notified === 'fetch') this.notified = undefined;
    } catch (e) {
      if (this.o.signal?.aborted) return done({ status: 'interrupted' });
      const message = e instanceof GitError ? e.message : `git: ${(e as Error).message}`;
      await this.notifyOnce('fetch', config, `watch ${this.o.branch}: ${message}`);
      return done({ status: 'fetch-failed', error: message });
    }
    const commit = sync.after;
    const moved = sync.before !== sync.after ? { from: sync.before } : {};
    if (commit === this.live) return done({ status: 'up-to-date', commit });
    if (commit === this.failed) return done({ status: 'held', commit, error: `${commit.slice(0, 12)} failed to deploy; waiting for ${this.o.branch} to move` });
    if (sync.before !== sync.after) {
      try {
        config = await this.o.load();
      } catch (e) {
        return done({ status: 'config-error', commit, ...moved, error: (e as Error).message, exitCode: e instanceof EeError ? e.exitCode : ExitCode.usage });
      }
    }
    const reporter = this.o.verbose ? (this.o.deployReporter ?? new LineReporter({ mode: 'plain', verbose: true, color: false })) : new LineReporter({ mode: 'json', verbose: false, color: false });
    try {
      const r: DeployResult = await deploy({ config, reporter, interactive: false, signal: this.o.signal, message: `${this.o.branch}@${commit.slice(0, 12)}${trigger ? ` (${trigger})` : ''}`, ifChanged: true });
      this.live = commit;
      this.failed = undefined;
      this.notified = undefined;
      return done({ status: r.status === 'unchanged' ? 'unchanged' : 'deployed', commit, ...moved, release: r.release });
    } catch (e) {
      const code = e instanceof EeError ? e.exitCode : ExitCode.failed;
      if (e instanceof InterruptedError || this.o.signal?.aborted) return done({ status: 'interrupted', commit, ...moved, exitCode: ExitCode.interrupted, error: (e as Error).message });
      if (e instanceof LockHeldError) return done({ status: 'locked', commit, ...moved, exitCode: code, error: e.message });
      if (code !== ExitCode.connection) this.failed = commit;
      // a failure inside the pipeline was notified by it (its result is attached); one before it
      // (build, connecting, config) was not
      if ((e as EeError).result === undefined) await this.notifyOnce(`deploy ${code} ${commit}`, config, `watch ${this.o.branch}@${commit.slice(0, 12)}: ${(e as Error).message}`, commit);
      return done({ status: 'deploy-failed', commit, ...moved, exitCode: code, error: (e as Error).message });
    }
  }

  private async notifyOnce(kind: string, config: ResolvedConfig, error: string, commit?: string): Promise<void> {
    if (this.notified === kind || !config.raw.notifications) return;
    this.notified = kind;
    const quiet = new LineReporter({ mode: 'json', verbose: false, color: false });
    const user = await performer(config.dir).catch(() => machineName());
    await notify({ config, reporter: quiet, interactive: false }, { level: 'failure', action: 'deploy', user, commit, hosts: config.hosts.map((h) => h.id), status: 'failed', error: redact(error) }, []);
  }
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

/** The cycle's one log line (without the timestamp). */
export function describeCycle(r: CycleResult): string {
  const at = r.commit ? `${r.branch}@${r.commit.slice(0, 12)}` : r.branch;
  const range = r.from && r.commit ? `${r.branch} ${r.from.slice(0, 12)}..${r.commit.slice(0, 12)}` : at;
  const took = formatDuration(r.durationMs);
  const why = r.trigger ? ` [${r.trigger}]` : '';
  switch (r.status) {
    case 'deployed':
      return `cycle ${r.cycle} ${range}: deployed release ${r.release} (${took})${why}`;
    case 'unchanged':
      return `cycle ${r.cycle} ${range}: unchanged (every host already runs this content)${why}`;
    case 'up-to-date':
      return `cycle ${r.cycle} ${at}: up to date${why}`;
    case 'held':
      return `cycle ${r.cycle} ${at}: skipped: ${r.error}${why}`;
    case 'locked':
      return `cycle ${r.cycle} ${range}: skipped: ${r.error}; retrying next cycle${why}`;
    case 'fetch-failed':
      return `cycle ${r.cycle} ${r.branch}: fetch failed: ${r.error}${why}`;
    case 'deploy-failed':
      return `cycle ${r.cycle} ${range}: deploy failed (exit ${r.exitCode}): ${r.error}${r.exitCode === ExitCode.connection ? '; retrying next cycle' : `; not retried until ${r.branch} moves`}${why}`;
    case 'config-error':
      return `cycle ${r.cycle} ${at}: config error: ${r.error}${why}`;
    case 'interrupted':
      return `cycle ${r.cycle} ${at}: interrupted${r.error ? `: ${r.error}` : ''}${why}`;
  }
}
