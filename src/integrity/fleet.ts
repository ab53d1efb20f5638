/** One read-only exec per host, at most `limit` hosts at a time; per-host results, never all-or-nothing. */
import type { ResolvedHost } from '../config/resolve.js';
import { ConnectionError, EeError } from '../errors.js';
import { openTransport } from '../transport/open.js';
import type { Transport } from '../transport/types.js';

export interface HostResult<T> {
  host: ResolvedHost;
  value?: T;
  error?: EeError;
}

export async function onHosts<T>(hosts: ResolvedHost[], limit: number, interactive: boolean, fn: (t: Transport, h: ResolvedHost) => Promise<T>): Promise<HostResult<T>[]> {
  const out: HostResult<T>[] = hosts.map((host) => ({ host }));
  let next = 0;
  const worker = async () => {
    while (next < out.length) {
      const slot = out[next++];
      let t: Transport | undefined;
      try {
        t = await openTransport(slot.host, { interactive });
        slot.value = await fn(t, slot.host);
      } catch (e) {
        slot.error = e instanceof EeError ? e : new ConnectionError(`${slot.host.id}: ${(e as Error).message}`, { host: slot.host.id });
      } finally {
        await t?.close().catch(() => {});
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, out.length)) }, worker));
  return out;
}
