/**
 * Who gets a notification, decided without I/O:
 * - routing: a channel's `on:` (else the global one) must select the event's level, and its
 *   `envs:` (when set) must name the environment;
 * - `notifications.suppress`: a failure identical to one already sent within the window (same
 *   project, environment, level and first line of the error) is held back; the next message
 *   sent carries the count;
 * - `notifications.escalate`: the channels in `to` get failures only from the `after`-th
 *   consecutive failed deploy of the environment on.
 * Suppression and escalation read the deploy history of the servers (every host's
 * history.jsonl, merged), so two laptops and a CI runner make the same decision.
 */
import type { NotifyLevel, RouteLevel } from '../config/notify-vocabulary.js';
import { firstLine, isFailure, type DeployEvent } from './event.js';

export type { RouteLevel };

export interface Route {
  on?: readonly RouteLevel[];
  envs?: readonly string[];
}

/** `failure` includes needs_human; `needs_human` alone selects only those. */
export function levelSelected(on: readonly RouteLevel[], event: Pick<DeployEvent, 'level' | 'status'>): boolean {
  if (on.includes(event.level)) return true;
  return event.status === 'needs_human' && on.includes('needs_human');
}

/** Why a channel does not get an event, or undefined when it does. */
export function routeProblem(route: Route, defaultOn: readonly RouteLevel[], event: Pick<DeployEvent, 'level' | 'status' | 'env'>): 'level' | 'env' | undefined {
  if (route.envs && !route.envs.includes(event.env)) return 'env';
  if (!levelSelected(route.on ?? defaultOn, event)) return 'level';
  return undefined;
}

/** A history record as far as these decisions need it (older records may lack fields). */
export interface PastRun {
  id: string;
  action: 'deploy' | 'rollback';
  status: string;
  env: string;
  project?: string;
  run?: string;
  started: string;
  duration_ms?: number;
  error?: string;
}

/** The level a past run was notified with (as the deploy and rollback code pick it). */
export function pastLevel(r: Pick<PastRun, 'action' | 'status'>): NotifyLevel {
  if (r.action === 'rollback') return r.status === 'success' ? 'rollback' : 'failure';
  if (r.status === 'success' || r.status === 'canary') return 'success';
  if (r.status === 'rolled_back') return 'rollback';
  return 'failure';
}

const pastKey = (r: PastRun) => r.run ?? `${r.action}|${r.id}|${r.started}`;

/** Every host's records, one per run, of this project and environment, oldest first, without the current run. */
export function runsOf(history: readonly PastRun[], event: Pick<DeployEvent, 'project' | 'env' | 'run' | 'runStarted' | 'release'>): PastRun[] {
  const seen = new Map<string, PastRun>();
  for (const r of history) {
    if (!r || typeof r.id !== 'string' || typeof r.started !== 'string') continue;
    if (r.env !== event.env || (r.project !== undefined && r.project !== event.project)) continue;
    if (event.run !== undefined && r.run === event.run) continue;
    if (event.runStarted !== undefined && r.started === event.runStarted && r.id === event.release) continue;
    if (!seen.has(pastKey(r))) seen.set(pastKey(r), r);
  }
  const t = (r: PastRun) => (Date.parse(r.started) || 0) + (r.duration_ms ?? 0);
  return [...seen.values()].sort((a, b) => t(a) - t(b));
}

/** Consecutive failed deploys, newest backwards, the current event included (interrupted runs and rollbacks neither count nor break it). */
export function failureStreak(runs: readonly PastRun[], event: Pick<DeployEvent, 'action' | 'level' | 'status'>): number {
  let n = event.action === 'deploy' && isFailure(event) ? 1 : 0;
  if (event.action === 'deploy' && !isFailure(event)) return 0;
  for (let i = runs.length - 1; i >= 0; i--) {
    const r = runs[i];
    if (r.action !== 'deploy' || r.status === 'interrupted') continue;
    if (r.status === 'success' || r.status === 'canary') break;
    n++;
  }
  return n;
}

export interface Decision {
  /** the event is an identical failure within the window: nobody gets it */
  suppressed: boolean;
  /** failures held back since the last message sent (to mention in this one) */
  heldBack?: { count: number; error: string; since: string };
  /** consecutive failed deploys including this one */
  streak: number;
}

export interface PolicyOptions {
  suppressMs?: number;
  /** whether a past run's notification reached at least one channel (else its held-back count is still due) */
  wasSent?: (level: NotifyLevel, status: string) => boolean;
}

/** Suppression and escalation state for `event`, from the merged history of the servers. */
export function decide(event: DeployEvent, history: readonly PastRun[], o: PolicyOptions): Decision {
  const runs = runsOf(history, event);
  const streak = failureStreak(runs, event);
  if (!o.suppressMs || event.action === 'test') return { suppressed: false, streak };
  const window = o.suppressMs;
  const lastSent = new Map<string, number>();
  let held: { count: number; error: string; since: string } | undefined;
  const key = (level: string, error: string | undefined) => `${level}\u0000${firstLine(error)}`;
  // replay: which past failures were sent and which held back
  for (const r of runs) {
    const level = pastLevel(r);
    const at = (Date.parse(r.started) || 0) + (r.duration_ms ?? 0);
    if (isFailure({ level, action: r.action, status: r.status })) {
      const k = key(level, r.error);
      const prev = lastSent.get(k);
      if (prev !== undefined && at - prev < window) {
        held = { count: (held?.count ?? 0) + 1, error: firstLine(r.error), since: held?.since ?? new Date(prev).toISOString() };
        continue;
      }
      lastSent.set(k, at);
    }
    if (!o.wasSent || o.wasSent(level, r.status)) held = undefined;
  }
  if (isFailure(event)) {
    const prev = lastSent.get(key(event.level, event.error));
    const now = Date.parse(event.timestamp) || Date.now();
    if (prev !== undefined && now - prev < window) return { suppressed: true, streak, heldBack: held };
  }
  return { suppressed: false, streak, heldBack: held };
}

/** The line a message gets when failures were held back. */
export function heldBackNote(h: NonNullable<Decision['heldBack']>): string {
  return `(${h.count} identical failure notification${h.count === 1 ? '' : 's'} held back since ${h.since}: ${h.error || 'no error text'})`;
}
