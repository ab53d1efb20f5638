/**
 * The deploy lock: an atomic `mkdir <path>/.ee-deploy/lock` holding `info` (one JSON line).
 * Check-then-write locks are racy; mkdir is not.
 */
import type { LockHolder } from '../../errors.js';

export interface LockInfo extends LockHolder {
  /** random per-run token: we only ever remove a lock whose token we know */
  token: string;
  /** held by hand (`ee-deploy lock`): never considered stale by pid */
  manual?: boolean;
  env?: string;
}

export function serializeLock(info: LockInfo): string {
  return JSON.stringify(info);
}

export function parseLock(text: string | undefined): LockInfo | undefined {
  if (!text) return undefined;
  try {
    const v = JSON.parse(text.trim()) as Partial<LockInfo>;
    if (typeof v !== 'object' || v === null || typeof v.token !== 'string') return undefined;
    return {
      user: String(v.user ?? 'unknown'),
      machine: String(v.machine ?? 'unknown'),
      pid: Number(v.pid ?? 0),
      time: String(v.time ?? ''),
      message: v.message ? String(v.message) : undefined,
      command: v.command ? String(v.command) : undefined,
      token: v.token,
      manual: v.manual === true,
      env: v.env ? String(v.env) : undefined,
    };
  } catch {
    return undefined;
  }
}

export type Staleness =
  | { stale: false }
  | { stale: true; provable: true; reason: string }
  | { stale: true; provable: false; reason: string };

/**
 * A lock is provably stale when its holder ran on this machine and that pid is gone; it is
 * probably stale when older than `maxAgeMs`. Hand-held locks are never stale.
 */
export function lockStaleness(
  info: LockInfo,
  here: { machine: string; now: number; maxAgeMs: number; pidAlive: (pid: number) => boolean },
): Staleness {
  if (info.manual) return { stale: false };
  if (info.machine === here.machine && info.pid > 0 && !here.pidAlive(info.pid)) {
    return { stale: true, provable: true, reason: `its process ${info.pid} on ${info.machine} is gone` };
  }
  const t = Date.parse(info.time);
  if (Number.isFinite(t) && here.now - t > here.maxAgeMs) {
    return { stale: true, provable: false, reason: `it is ${ageText(here.now - t)} old` };
  }
  return { stale: false };
}

export function ageText(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

export function describeHolder(info: LockInfo, now = Date.now()): string {
  const t = Date.parse(info.time);
  const age = Number.isFinite(t) ? `, ${ageText(now - t)} ago` : '';
  const what = info.manual ? 'locked by hand' : `${info.command ?? 'deploy'} running`;
  const msg = info.message ? `: "${info.message}"` : '';
  return `${info.user}@${info.machine} (pid ${info.pid}, ${what}${age})${msg}`;
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
