/**
 * Measures the link under an SSH connection without running a command on the host, so
 * `compress: auto` can decide by what the link does rather than by its address (a local relay
 * or tunnel can hide a slow link behind 127.0.0.1).
 *
 * First a keepalive ping alone (OpenSSH answers every `keepalive@openssh.com` global request):
 * the round trip. Then rounds of a ping, a burst of SSH_MSG_IGNORE packets (the server reads and
 * drops them) and a second ping: the first answer comes back after one round trip, the second
 * one after the burst has crossed the link as well, so the gap between the two answers is the
 * burst's transfer time in the upload direction. This process being busy can make a round look
 * slower (a slow-looking round is repeated once and the best one counts) or, when both answers
 * are read late in the same tick, instantly fast: see measure().
 */
import type { Client } from 'ssh2';
import type { LinkSample } from '../types.js';

/** bytes per burst: long enough to dominate timer and scheduling noise on a fast link */
export const PROBE_BURST_BYTES = 256 * 1024;
/** below this a round is repeated (it may have been slowed down by this machine) */
const REPEAT_BELOW_MBIT = 400;
/** bursts at most */
const MAX_ROUNDS = 3;
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

interface Round {
  /** first answer - start: one round trip, unless this process was busy */
  rttMs: number;
  /** second answer - first answer: the burst's transfer time, unless both answers were read late together */
  gapMs: number;
  /** second answer - start */
  totalMs: number;
}

async function round(c: NonNullable<ReturnType<typeof internals>>, burst: number): Promise<Round | undefined> {
  const t0 = performance.now();
  const first = ping(c);
  if (burst && !sendIgnore(c, burst)) {
    await first;
    return undefined;
  }
  const second = burst ? ping(c) : undefined;
  const t1 = await first;
  const t2 = second ? await second : t1;
  return { rttMs: t1 - t0, gapMs: t2 - t1, totalMs: t2 - t0 };
}

/**
 * A busy event loop (this process hashing files, a loaded machine) delays when the answers are
 * read: both answers of a round may then be read in the same tick, which would make the burst
 * look instant. Such a round also shows a longer round trip than the quickest one seen, so it is
 * repeated; the burst's time is never taken as less than the round's total minus the quickest
 * round trip (which errs towards a slower link, i.e. towards compressing).
 */
async function measure(c: NonNullable<ReturnType<typeof internals>>): Promise<LinkSample | undefined> {
  const plain = await round(c, 0);
  if (!plain) return undefined;
  let rttMin = plain.rttMs;
  let best: { rtt: number; mbit: number } | undefined;
  let sent = 0;
  for (let i = 0; i < MAX_ROUNDS; i++) {
    const r = await round(c, PROBE_BURST_BYTES);
    if (!r) break;
    sent += PROBE_BURST_BYTES;
    rttMin = Math.min(rttMin, r.rttMs);
    const burstMs = Math.max(r.gapMs, r.totalMs - rttMin, 0.05);
    const mbit = (PROBE_BURST_BYTES * 8) / (burstMs * 1000);
    const undisturbed = r.rttMs <= rttMin * 1.5 + 1;
    if (undisturbed && (!best || mbit > best.mbit)) best = { rtt: r.rttMs, mbit };
    if (best && best.mbit >= REPEAT_BELOW_MBIT) break;
    if (best && i >= 1) break;
    if (!best && i === MAX_ROUNDS - 1) best = { rtt: r.rttMs, mbit };
  }
  return best ? { rttMs: rttMin, mbit: best.mbit, probeBytes: sent } : undefined;
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
  try {
    return await Promise.race([measure(c), timeout]);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
    if (onClose) client.off('close', onClose);
  }
}
