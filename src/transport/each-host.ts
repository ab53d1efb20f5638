/**
 * One transport per host, at most `maxParallel` open at a time; each host's outcome reported, none
 * thrown. The shape of every fleet-wide read (inspect, verify, diff, audit, approvals, maintenance):
 * a host that cannot be reached is a result, not the end of the run.
 */
import type { ResolvedHost } from '../config/resolve.js';
import { ConnectionError, EeError } from '../errors.js';
import { forEachLimited } from '../util/concurrency.js';
import { openTransport } from './open.js';
import type { Transport } from './types.js';

export interface HostResult<T> {
  host: ResolvedHost;
  value?: T;
  error?: EeError;
}

export async function onHosts<T>(hosts: ResolvedHost[], o: { interactive: boolean; maxParallel: number; signal?: AbortSignal }, fn: (t: Transport, h: ResolvedHost) => Promise<T>): Promise<HostResult<T>[]> {
  const out: HostResult<T>[] = hosts.map((host) => ({ host }));
  await forEachLimited(out, o.maxParallel, async (slot) => {
    let t: Transport | undefined;
    try {
      t = await openTransport(slot.host, { interactive: o.interactive, signal: o.signal });
      slot.value = await fn(t, slot.host);
    } catch (e) {
      slot.error = e instanceof EeError ? e : new ConnectionError(`${slot.host.id}: ${(e as Error).message}`, { host: slot.host.id });
    } finally {
      await t?.close().catch(() => {});
    }
  });
  return out;
}
