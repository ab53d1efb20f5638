/** Opens the right Transport for a host: local, SSH (ssh2 loaded lazily), or dry-run. */
import type { ResolvedHost } from '../config/resolve.js';
import { ConnectionError, EeError, InterruptedError } from '../errors.js';
import { forEachLimited } from '../util/concurrency.js';
import { DryRunTransport } from './dry-run.js';
import type { Transport } from './types.js';

export interface OpenOptions {
  interactive: boolean;
  dryRun?: boolean;
  print?: (host: string, text: string) => void;
  connectTimeoutMs?: number;
  /** an interrupt (Ctrl-C / SIGTERM) ends the wait for the connection at once: nothing has run yet */
  signal?: AbortSignal;
}

export function openTransport(host: ResolvedHost, o: OpenOptions): Promise<Transport> {
  return abortable(host, connect(host, o), o.signal);
}

/** the connection, or an InterruptedError as soon as `signal` aborts (a connection made later is closed) */
function abortable(host: ResolvedHost, p: Promise<Transport>, signal?: AbortSignal): Promise<Transport> {
  if (!signal) return p;
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      reject(new InterruptedError(`interrupted while connecting to ${host.id}; nothing was changed`));
      p.then((t) => t.close(), () => {}).catch(() => {});
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (t) => {
        signal.removeEventListener('abort', onAbort);
        resolve(t);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

async function connect(host: ResolvedHost, o: OpenOptions): Promise<Transport> {
  if (o.dryRun) return new DryRunTransport(await connect(host, { ...o, dryRun: false }), o.print ?? (() => {}));
  if (host.local) {
    // loaded only for `host: local` (it brings execa): SSH deploys never evaluate it
    const { LocalTransport } = await import('./local.js');
    return new LocalTransport(host.id);
  }
  if (host.sshClient === 'openssh') {
    const { connectOpenSsh } = await import('./openssh/connect.js');
    return connectOpenSsh(host, { interactive: o.interactive, ...(o.connectTimeoutMs !== undefined ? { connectTimeoutMs: o.connectTimeoutMs } : {}) });
  }
  // the TCP connection first, then ssh2 (loaded while the server accepts it)
  const { predial } = await import('./ssh/predial.js');
  const early = predial(host);
  // net.connect() issues the connect(2) on the next tick: let it, before ssh2's synchronous loading
  if (early) await new Promise((r) => process.nextTick(r));
  const { connectSsh } = await import('./ssh/connect.js');
  return connectSsh(host, { interactive: o.interactive, connectTimeoutMs: o.connectTimeoutMs, early });
}

/** Opens every host's transport; if any fails, closes the others and throws the first error. */
export async function openAll(hosts: ResolvedHost[], o: OpenOptions, maxParallel = 10): Promise<Map<string, Transport>> {
  const out = new Map<string, Transport>();
  const errors: unknown[] = [];
  await forEachLimited(hosts, maxParallel, async (h) => {
    try {
      out.set(h.id, await openTransport(h, o));
    } catch (e) {
      errors.push(e instanceof EeError ? e : new ConnectionError(`${h.id}: ${(e as Error).message}`, { cause: e, host: h.id }));
    }
  });
  if (errors.length) {
    await Promise.allSettled([...out.values()].map((t) => t.close()));
    const first = errors[0] as EeError;
    if (errors.length > 1) first.message += ` (and ${errors.length - 1} more host(s) failed to connect)`;
    throw first;
  }
  return out;
}
