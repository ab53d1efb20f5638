/**
 * Whether a host's release archive is gzip-compressed (`compress: auto|on|off`, per environment
 * or host). `auto` decides from the link measured on the connection (transport measureLink:
 * round trip and upload throughput), never from the address: a slow link behind a local relay
 * or tunnel is compressed, a fast LAN is not.
 *
 * The rule: compress when the link carries less than FAST_LINK_MBIT. gzip level 1 runs at
 * ~50 MB/s on incompressible data and faster on text on one core of a small VM; below ~200
 * Mbit/s (25 MB/s) the link, not gzip, sets the pace, and every byte saved is time saved.
 * Above it gzip would become the bottleneck (and take CPU the SSH encryption needs), so the
 * archive goes as it is. One SSH channel never has more than its window (2 MiB, ssh2's and
 * OpenSSH's) in flight, so a long round trip caps the throughput too, whatever the link.
 */
import type { LinkSample } from '../transport/types.js';

export type CompressMode = 'auto' | 'on' | 'off';

/** gzip level when compressing: level 1 gets most of the gain of higher levels at a fraction of the CPU */
export const GZIP_LEVEL = 1;
/** at or above this measured throughput, the archive is sent uncompressed */
export const FAST_LINK_MBIT = 200;
/** bytes one SSH channel may have in flight (ssh2 and OpenSSH default window) */
export const CHANNEL_WINDOW_BYTES = 2 * 1024 * 1024;

export interface CompressionChoice {
  gzip: boolean;
  mode: CompressMode;
  /** one line: what decided it */
  reason: string;
  link?: { rtt_ms: number; mbit: number };
}

const round1 = (x: number) => Math.round(x * 10) / 10;

/** the most one channel can carry at this round trip, Mbit/s */
export function windowLimitMbit(rttMs: number): number {
  return (CHANNEL_WINDOW_BYTES * 8) / (Math.max(rttMs, 0.01) * 1000);
}

export function chooseCompression(mode: CompressMode, o: { local: boolean; link?: LinkSample }): CompressionChoice {
  const link = o.link ? { rtt_ms: round1(o.link.rttMs), mbit: round1(o.link.mbit) } : undefined;
  if (o.local) return { gzip: false, mode, reason: 'local host: no link to save bytes on' };
  if (mode === 'on') return { gzip: true, mode, reason: 'compress: on', ...(link ? { link } : {}) };
  if (mode === 'off') return { gzip: false, mode, reason: 'compress: off', ...(link ? { link } : {}) };
  if (!o.link) return { gzip: true, mode, reason: 'compress: auto, link not measured: compressed as for a network link' };
  const cap = windowLimitMbit(o.link.rttMs);
  const effective = Math.min(o.link.mbit, cap);
  const capped = cap < o.link.mbit ? ` (one SSH channel carries at most ${Math.round(cap)} Mbit/s at this round trip)` : '';
  const gzip = effective < FAST_LINK_MBIT;
  const measured = `measured ${link!.rtt_ms} ms round trip, ${Math.round(o.link.mbit)} Mbit/s${capped}`;
  return {
    gzip,
    mode,
    reason: `compress: auto, ${measured}: ${gzip ? 'below' : 'at or above'} ${FAST_LINK_MBIT} Mbit/s`,
    link: link!,
  };
}
