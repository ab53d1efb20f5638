/**
 * Measures the link under an SSH connection without running a command on the host, so
 * `compress: auto` can decide by what the link does rather than by its address (a local relay
 * or tunnel can hide a slow link behind 127.0.0.1).
 *
 * One round: a keepalive ping (OpenSSH answers every `keepalive@openssh.com` global request),
 * then a burst of SSH_MSG_IGNORE packets (the server reads and drops them), then a second
 * ping. The first answer comes back after one round trip; the second one after the burst has
 * crossed the link as well, so the gap between the two answers is the burst's transfer time in
 * the upload direction. Anything else delaying this process (a busy event loop, a loaded
 * machine) can only make a round look slower, never faster: a slow-looking round is repeated
 * once and the best round counts.
 */
import type { Client } from 'ssh2';
import type { LinkSample } from '../types.js';

/** bytes per burst: long enough to dominate timer and scheduling noise on a fast link */
export const PROBE_BURST_BYTES = 256 * 1024;
/** below this a round is repeated (it may have been slowed down by this machine) */
const REPEAT_BELOW_MBIT = 400;
const PACKET_PAYLOAD = 32 * 1024;
const SSH_MSG_IGNORE = 2;

interface PacketWriter {
  allocStart: number;
  alloc(n: number): Buffer;
  finalize(packet: Buffer): Buffer;
}
interface Ssh2Internals {
  _protocol?: { _kexinit?: unknown; _packetRW?: { write: PacketWriter }; _cipher?: { encrypt(packet: Buffer): void }; ping(): void };
  _callbacks?: ((failed: boolean) => void)[];
  _sock?: { writable?: boolean };
}

function internals(client: Client): Required<Pick<Ssh2Internals, '_protocol' | '_callbacks'>> | undefined {
  const c = client as unknown as Ssh2Internals;
  const p = c._protocol;
  if (!p || !c._callbacks || !p._packetRW || !p._cipher || typeof p.ping !== 'function' || c._sock?.writable === false) return undefined;
  return { _protocol: p, _callbacks: c._callbacks };
}

/** resolves with the time the server's answer arrived */
function ping(c: NonNullable<ReturnType<typeof internals>>): Promise<number> {
  return new Promise((resolve) => {
    // answers to global requests come back in order: ssh2 pairs them with this queue
    c._callbacks.push(() => resolve(performance.now()));
    c._protocol.ping();
  });
}

/** false while a key exchange is running (ssh2 would queue the packets; the timing would be meaningless) */
function sendIgnore(c: NonNullable<ReturnType<typeof internals>>, bytes: number): boolean {
  const proto = c._protocol;
  if (proto._kexinit !== undefined) return false;
  const w = proto._packetRW!.write;
  for (let left = bytes; left > 0; left -= PACKET_PAYLOAD) {
    const n = Math.min(PACKET_PAYLOAD, left);
    const p = w.allocStart;
    const packet = w.alloc(1 + 4 + n);
    packet[p] = SSH_MSG_IGNORE;
    packet.writeUInt32BE(n, p + 1);
    packet.fill(0, p + 5, p + 5 + n);
    proto._cipher!.encrypt(w.finalize(packet));
  }
  return true;
}

async function round(c: NonNullable<ReturnType<typeof internals>>): Promise<LinkSample | undefined> {
  const t0 = performance.now();
  const first = ping(c);
  if (!sendIgnore(c, PROBE_BURST_BYTES)) {
    await first;
    return undefined;
  }
  const second = ping(c);
  const t1 = await first;
  const t2 = await second;
  const burstMs = Math.max(t2 - t1, 0.05);
  return { rttMs: t1 - t0, mbit: (PROBE_BURST_BYTES * 8) / (burstMs * 1000), probeBytes: PROBE_BURST_BYTES };
}

/**
 * Round trip and upload throughput of the connection, or undefined when the connection cannot
 * be probed (not an ssh2 client we know, a key exchange in progress) or does not answer within
 * `timeoutMs`.
 */
export async function probeLink(client: Client, timeoutMs = 10_000): Promise<LinkSample | undefined> {
  const c = internals(client);
  if (!c) return undefined;
  let timer: NodeJS.Timeout | undefined;
  let onClose: (() => void) | undefined;
  // a dropped connection answers nothing: give up at once rather than after the timeout
  const timeout = new Promise<undefined>((r) => {
    timer = setTimeout(() => r(undefined), timeoutMs);
    timer.unref();
    onClose = () => r(undefined);
    client.once('close', onClose);
  });
  const measure = async (): Promise<LinkSample | undefined> => {
    const a = await round(c);
    if (!a || a.mbit >= REPEAT_BELOW_MBIT) return a;
    const b = await round(c);
    if (!b) return a;
    return { rttMs: Math.min(a.rttMs, b.rttMs), mbit: Math.max(a.mbit, b.mbit), probeBytes: a.probeBytes + b.probeBytes };
  };
  try {
    return await Promise.race([measure(), timeout]);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
    if (onClose) client.off('close', onClose);
  }
}
