/**
 * Runs started from the dashboard: deploy, rollback, lock, unlock, through the same library calls
 * as the CLI. Each run keeps its log lines (plain timestamped lines, redacted, as the CLI prints
 * off a terminal) for server-sent events.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { ResolvedConfig } from '../config/resolve.js';
import { redact } from '../config/secrets.js';
import { approveRequest } from '../deploy/approve.js';
import { deploy } from '../deploy/deploy.js';
import { performer } from '../deploy/identity.js';
import { lockHosts, unlockHosts } from '../deploy/inspect.js';
import { rollback } from '../deploy/rollback.js';
import { EeError } from '../errors.js';
import { publishAfterRun } from '../metrics/publish.js';
import { isTagLine } from '../remote/protocol.js';
import { LineReporter } from '../ui/reporter.js';

export type RunKind = 'deploy' | 'rollback' | 'lock' | 'unlock' | 'approve';

export interface RunEvent {
  type: 'line' | 'end';
  text?: string;
  ok?: boolean;
  exitCode?: number;
}

export class RunLog {
  readonly id = randomBytes(9).toString('base64url');
  readonly lines: string[] = [];
  done = false;
  ok?: boolean;
  exitCode?: number;
  private listeners = new Set<(e: RunEvent) => void>();
  constructor(
    readonly kind: RunKind,
    readonly project: string,
    readonly env: string,
  ) {}
  line(text: string): void {
    for (const l of redact(text).split('\n')) {
      // the remote scripts' own status tags are for ee-deploy, not for people
      const remote = /^\S+ \|\s+\[[^\]]*\] (.*)$/.exec(l);
      if (remote && isTagLine(remote[1])) continue;
      this.lines.push(l);
      for (const f of this.listeners) f({ type: 'line', text: l });
    }
  }
  end(ok: boolean, exitCode: number): void {
    this.done = true;
    this.ok = ok;
    this.exitCode = exitCode;
    for (const f of this.listeners) f({ type: 'end', ok, exitCode });
  }
  /** replays what happened so far, then follows; returns the unsubscribe function */
  follow(f: (e: RunEvent) => void): () => void {
    for (const l of this.lines) f({ type: 'line', text: l });
    if (this.done) {
      f({ type: 'end', ok: this.ok, exitCode: this.exitCode });
      return () => {};
    }
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }
}

/** a LineReporter (verbose: hook output too) writing into the run's log */
function reporterFor(log: RunLog): LineReporter {
  let partial = '';
  const out = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      const text = partial + String(chunk);
      const parts = text.split('\n');
      partial = parts.pop() ?? '';
      for (const p of parts) log.line(p);
      cb();
    },
  });
  return new LineReporter({ mode: 'plain', verbose: true, color: false, stdout: out, stderr: out });
}

export interface RunRequest {
  kind: RunKind;
  config: ResolvedConfig;
  /** rollback: the release the dialog named; the run stops unchanged if the plan differs */
  expect?: string;
  message?: string;
  /** approve: the request id */
  request?: string;
}

export class RunManager {
  private runs = new Map<string, RunLog>();
  private busy = new Map<string, RunLog>();
  private pending = new Set<Promise<void>>();
  constructor(
    private readonly onDone: () => void,
    /** the dashboard's own stop (Ctrl-C): runs in progress clean up as the CLI's do */
    private readonly signal?: AbortSignal,
  ) {}

  /** resolves once every run in progress has ended */
  async idle(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }

  get(id: string): RunLog | undefined {
    return this.runs.get(id);
  }

  start(r: RunRequest): RunLog {
    const key = `${r.config.project}/${r.config.envName}`;
    const log = new RunLog(r.kind, r.config.project, r.config.envName);
    this.runs.set(log.id, log);
    // keep the last 50 logs
    if (this.runs.size > 50) this.runs.delete(this.runs.keys().next().value!);
    const running = this.busy.get(key);
    if (running && (r.kind === 'deploy' || r.kind === 'rollback')) {
      log.line(`error: a ${running.kind} of ${key} started from this dashboard is still running`);
      log.end(false, 4);
      return log;
    }
    if (r.kind === 'deploy' || r.kind === 'rollback') this.busy.set(key, log);
    const p = this.execute(r, log).finally(() => {
      this.pending.delete(p);
      if (this.busy.get(key) === log) this.busy.delete(key);
      this.onDone();
    });
    this.pending.add(p);
    return log;
  }

  private async execute(r: RunRequest, log: RunLog): Promise<void> {
    const { config } = r;
    const reporter = reporterFor(log);
    const hosts = config.hosts;
    try {
      if (r.kind === 'deploy' || r.kind === 'rollback') {
        let failure: unknown;
        try {
          if (r.kind === 'deploy') {
            const res = await deploy({ config, reporter, hosts, interactive: false, message: r.message, signal: this.signal });
            log.line(`deployed ${res.release} (${res.status})`);
          } else {
            const res = await rollback({
              config,
              reporter,
              hosts,
              interactive: false,
              message: r.message,
              signal: this.signal,
              // what the dialog named is what happens: a plan that changed since is not run
              confirm: async (plan) => {
                const to = [...new Set(plan.map((p) => p.to))];
                if (r.expect && (to.length !== 1 || to[0] !== r.expect)) {
                  log.line(`error: the rollback target is now ${to.join(', ')}, not ${r.expect} as shown; nothing was changed (refresh and try again)`);
                  return false;
                }
                return true;
              },
            });
            if (res.status === 'cancelled') {
              log.end(false, 1);
              return;
            }
            log.line(`rolled back to ${res.release} (${res.status})`);
          }
        } catch (e) {
          failure = e;
        } finally {
          reporter.stop();
        }
        for (const w of await publishAfterRun(config, { interactive: false }, failure)) log.line(`warning: ${w}`);
        if (failure) throw failure;
        log.end(true, 0);
      } else if (r.kind === 'approve') {
        const user = await performer(config.dir);
        const res = await approveRequest(config, hosts, r.request ?? '', { interactive: false, user });
        log.line(`approved ${res.request} (commit ${(res.commit ?? 'none').slice(0, 12)}) as ${user}: ${res.approvals.length} of ${config.policy?.approvals ?? 0} approval(s)`);
        log.end(true, 0);
      } else if (r.kind === 'lock') {
        const res = await lockHosts(config, hosts, { interactive: false, user: await performer(config.dir), message: r.message });
        for (const h of res) log.line(`${h.host}: ${h.ok ? 'locked' : `NOT locked: ${h.error}`}`);
        const bad = res.find((h) => !h.ok);
        log.end(!bad, bad ? (bad.exitCode ?? 1) : 0);
      } else {
        const res = await unlockHosts(config, hosts, { interactive: false });
        for (const h of res) log.line(`${h.host}: ${!h.ok ? `ERROR ${h.error}` : h.held ? `unlocked (was held by ${h.held})` : 'was not locked'}`);
        const bad = res.find((h) => !h.ok);
        log.end(!bad, bad ? (bad.exitCode ?? 1) : 0);
      }
    } catch (e) {
      const code = e instanceof EeError ? e.exitCode : 1;
      log.line(`error: ${redact((e as Error).message).replace(/\s*\n\s*/g, ' ')}`);
      log.end(false, code);
    }
  }
}
