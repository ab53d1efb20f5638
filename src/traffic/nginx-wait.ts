/** Waiting for an nginx reload to be in force and its old workers' requests to be done. */
import { nginxWorkersScript, parseWorkers, workersLeft, type NginxWorker } from '../remote/traffic/lb.js';
import type { Transport } from '../transport/types.js';
import { sleep } from '../util/sleep.js';

export async function nginxWorkers(t: Transport): Promise<NginxWorker[]> {
  const r = await t.exec(nginxWorkersScript(), { readOnly: true });
  return parseWorkers(r.stdout) ?? [];
}

/**
 * After a reload: until the reloaded master has none of the workers it had in `before`, at most
 * `timeoutMs`. `left` = those still running when the wait ended (all of `before` while the reload
 * has not shown yet). No visible workers before: nothing to wait for.
 */
export async function waitNginxReload(t: Transport, before: NginxWorker[], o: { timeoutMs: number; pollMs?: number; signal?: AbortSignal }): Promise<{ waitedMs: number; left: number; timedOut: boolean }> {
  const start = Date.now();
  if (before.filter((w) => !w.exiting).length === 0) return { waitedMs: 0, left: 0, timedOut: false };
  for (;;) {
    const left = workersLeft(before, await nginxWorkers(t)) ?? before.length;
    const waitedMs = Date.now() - start;
    if (left === 0) return { waitedMs, left, timedOut: false };
    if (waitedMs >= o.timeoutMs || o.signal?.aborted) return { waitedMs, left, timedOut: true };
    await sleep(Math.min(o.pollMs ?? 100, Math.max(1, o.timeoutMs - waitedMs)), o.signal);
  }
}
