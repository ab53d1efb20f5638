/**
 * Read-only and lock-only operations: releases, history, check, lock, unlock. One exec per host.
 */
import { redact } from '../config/secrets.js';
import type { ResolvedConfig, ResolvedHost } from '../config/resolve.js';
import { EeError, LockHeldError } from '../errors.js';
import { parseHistory, type HistoryRecord } from '../history/record.js';
import { forceUnlockScript, holderText, InfoGrace, manualLockScript, newLockInfo, parseLock, parseLockAnswer, serializeLock, unlockScript, type LockInfo } from '../remote/steps/lock.js';
import { inspectScript, parseInspect } from '../remote/steps/inspect.js';
import type { ParsedState } from '../remote/steps/open.js';
import { compareReleaseIds } from '../remote/release-id.js';
import { onHosts } from '../transport/each-host.js';
import { machineName } from './identity.js';
import { sleep } from '../util/sleep.js';
import { lastLine } from '../util/text.js';

export interface HostView {
  host: string;
  ok: boolean;
  error?: string;
  exitCode?: number;
  state?: ParsedState;
  lock?: LockInfo;
  sizes: Record<string, { kb: number; time?: string }>;
  history: HistoryRecord[];
  writable?: boolean;
}

/** state + release sizes + history tail, in one exec per host */
export async function inspectHosts(config: ResolvedConfig, hosts: ResolvedHost[], o: { interactive: boolean; historyLimit?: number; checkWritable?: boolean }): Promise<HostView[]> {
  const res = await onHosts(hosts, { interactive: o.interactive, maxParallel: config.env.max_parallel }, async (t, h) => {
    const r = await t.exec(inspectScript(h.path, { historyLimit: o.historyLimit ?? 50, checkWritable: o.checkWritable }), { readOnly: true });
    if (r.code !== 0) throw new EeError(`${h.id}: inspecting ${h.path} failed: ${lastLine(r.stderr) || `exit ${r.code}`}`, 1, { host: h.id });
    return r.stdout;
  });
  return res.map(({ host, value, error }) => {
    if (error || value === undefined) return { host: host.id, ok: false, error: error?.message, exitCode: error?.exitCode, sizes: {}, history: [] };
    const { state, sizes, historyText, writable } = parseInspect(value);
    return { host: host.id, ok: true, state, lock: parseLock(state.lock.info), sizes, history: parseHistory(historyText), writable };
  });
}

/** `ee-deploy lock`: hold the lock by hand on every host (all or none). */
export async function lockHosts(config: ResolvedConfig, hosts: ResolvedHost[], o: { interactive: boolean; user: string; message?: string; signal?: AbortSignal }): Promise<{ host: string; ok: boolean; error?: string; exitCode?: number }[]> {
  const info: LockInfo = newLockInfo({ user: o.user, machine: machineName(), message: o.message && redact(o.message), command: 'lock', manual: true, env: config.envName });
  const res = await onHosts(hosts, { interactive: o.interactive, maxParallel: config.env.max_parallel, signal: o.signal }, async (t, h) => {
    let r = await t.exec(manualLockScript(h.path, serializeLock(info)));
    let st = parseLockAnswer(r.stdout);
    // held without its info: another run is between its mkdir and writing the info; look again
    const grace = new InfoGrace();
    while (r.code === 0 && st.status === 'held' && !parseLock(st.info) && grace.lookAgain()) {
      await sleep(100);
      r = await t.exec(manualLockScript(h.path, serializeLock(info)));
      st = parseLockAnswer(r.stdout);
    }
    if (r.code !== 0) throw new EeError(`${h.id}: cannot create the lock in ${h.path}: ${lastLine(r.stderr)}`, 1, { host: h.id });
    if (st.status !== 'acquired') {
      const holder = parseLock(st.info);
      throw new LockHeldError(`${h.id}: already locked by ${holderText(holder)}`, holder, h.id);
    }
    return true;
  });
  const first = res.find((x) => x.error)?.error;
  if (!first) return res.map(({ host }) => ({ host: host.id, ok: true }));
  // all or none: give back the hosts this call did lock (only while they still carry our token)
  const taken = res.filter((x) => !x.error).map((x) => x.host);
  const back = await onHosts(taken, { interactive: o.interactive, maxParallel: config.env.max_parallel }, async (t, h) => {
    const r = await t.exec(unlockScript(h.path, info.token));
    if (r.code !== 0) throw new EeError(`${h.id}: locked, and the lock could not be given back: ${lastLine(r.stderr)}`, 1, { host: h.id });
  });
  return res.map(({ host, error }) => {
    if (error) return { host: host.id, ok: false, error: error.message, exitCode: error.exitCode };
    const stuck = back.find((b) => b.host.id === host.id)?.error;
    return { host: host.id, ok: false, error: stuck ? stuck.message : `${host.id}: not locked: ${first.message} (all hosts or none)`, exitCode: first.exitCode };
  });
}

/** `ee-deploy unlock`: remove the lock on every host, reporting what it held. */
export async function unlockHosts(config: ResolvedConfig, hosts: ResolvedHost[], o: { interactive: boolean; signal?: AbortSignal }): Promise<{ host: string; ok: boolean; held?: string; error?: string; exitCode?: number }[]> {
  const res = await onHosts(hosts, { interactive: o.interactive, maxParallel: config.env.max_parallel, signal: o.signal }, async (t, h) => {
    const r = await t.exec(forceUnlockScript(h.path));
    if (r.code !== 0) throw new EeError(`${h.id}: cannot remove the lock: ${lastLine(r.stderr)}`, 1, { host: h.id });
    const st = parseLockAnswer(r.stdout);
    if (st.status !== 'held') return undefined;
    return holderText(parseLock(st.info));
  });
  return res.map(({ host, value, error }) => ({ host: host.id, ok: !error, held: value, error: error?.message, exitCode: error?.exitCode }));
}

export function sortedReleases(v: HostView): string[] {
  return (v.state?.releases ?? []).map((r) => r.id).sort(compareReleaseIds);
}

/**
 * Who made each release: the user of the first deploy record of its id, whatever its status, so
 * a release that failed its checks (BAD_RELEASE) names its deployer too. `history` is oldest first.
 */
export function releaseAuthors(history: HistoryRecord[]): Map<string, string> {
  const who = new Map<string, string>();
  for (const h of history) if (h.action === 'deploy' && h.user && !who.has(h.id)) who.set(h.id, h.user);
  return who;
}

/** a REVISION for a table: a commit as 12 hex digits, anything else (`content-<hex>`) whole */
export function shortRevision(rev: string | undefined): string {
  if (!rev) return '';
  return /^[0-9a-f]{40,64}$/.test(rev) ? rev.slice(0, 12) : rev;
}
