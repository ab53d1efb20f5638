/** A deploy run's state, shared by its steps: the options, the hosts' sessions, the plan, what happened so far. */
import { randomUUID } from 'node:crypto';
import type { ResolvedHost } from '../config/resolve.js';
import { InterruptedError } from '../errors.js';
import type { StepName } from '../history/record.js';
import { layout } from '../remote/layout.js';
import type { RunOptions } from './context.js';
import type { GitInfo } from './identity.js';
import type { HostSession, Sessions } from './session.js';
import type { CheckOutcome } from './checks.js';
import type { StrategyPlan } from './strategy.js';
import type { CompressionChoice } from './compression.js';

export interface DeployOptions extends RunOptions {
  message?: string;
  /** maintenance on before the first switch, off once the post checks passed (or the run failed) */
  maintenance?: boolean;
  /** strategy canary: stop once the canary hosts are switched and healthy (the rest stay prepared) */
  canaryOnly?: boolean;
  /** switch the hosts not yet on the last `--canary-only` release to it */
  promote?: boolean;
  /** `--override-policy -m REASON`: the reason (passes deploy windows and freezes, recorded and notified) */
  overridePolicy?: string;
  /** do nothing (status `unchanged`) when every host already runs this content (if-changed.ts) */
  ifChanged?: boolean;
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
  /** how the release archive was sent, and why */
  compression?: CompressionChoice;
}

export interface Run {
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
  /** the same on every host's history record of this run */
  runId: string;
  /** when `current` switched to the release, per host */
  liveAt: Map<HostSession, string>;
  /** wall time per pipeline step (ms), summed over waves */
  steps: Partial<Record<StepName, number>>;
  bytesSent?: number;
  filesChanged?: number;
  /** where backup/migrate run (db-steps.ts), when configured */
  db?: ResolvedHost;
}

/** adds the wall time since `t0` to a step */
export function timeStep(run: Run, step: StepName, t0: number): void {
  run.steps[step] = (run.steps[step] ?? 0) + (Date.now() - t0);
}

export function newRun(a: { o: DeployOptions; sessions: Sessions; id: string; user: string; git: GitInfo; revision: string; started: number; warnings: string[]; plan: StrategyPlan<HostSession>; toPrepare: HostSession[]; alreadyLive?: HostSession[] }): Run {
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
    runId: randomUUID(),
    liveAt: new Map(),
    steps: {},
  };
  for (const s of a.sessions.hosts) run.outcomes.set(s.host.id, { host: s.host.id, state: 'unchanged', current: s.state.current, previous: fromOf(run, s) });
  return run;
}

/** The release `current` pointed at before this deploy (for a --promote's canary: before the canary). */
export function fromOf(run: Run, s: HostSession): string | undefined {
  return s.state.current === run.id ? s.state.previous : s.state.current;
}

export function hookEnv(run: Run, s: HostSession): Record<string, string> {
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

export function checkInterrupt(run: Run, when: string): void {
  if (run.o.signal?.aborted) throw new InterruptedError(`interrupted ${when}`);
}
