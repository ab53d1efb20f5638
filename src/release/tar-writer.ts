/**
 * Tar headers for release uploads: directories, files, symlinks and hard links, uid/gid 0 and no
 * user names (the server's user owns what it extracts). The blocks themselves are encoded by the
 * `tar` package (its `Header`: ustar fields, prefix split, checksum; its `Pax`: extended headers
 * for names and link targets ustar cannot hold, non-ASCII names and sizes of 8 GiB and more).
 * GNU tar and BusyBox tar read the result. Pure: builds headers, never touches files (tar-stream.ts
 * streams the data and the padding after each file).
 */
import { Header } from 'tar/header';
import { Pax } from 'tar/pax';

const BLOCK = 512;
export const END_OF_ARCHIVE = Buffer.alloc(BLOCK * 2);

export type TarType = 'file' | 'dir' | 'symlink' | 'hardlink';

export interface TarHeader {
  /** member name, '/'-separated, relative (no trailing slash for directories: added here) */
  name: string;
  type: TarType;
  mode: number;
  /** seconds since the epoch */
  mtime: number;
  /** files only */
  size?: number;
  /** symlink target, or the hard link's existing member path */
  linkname?: string;
}

const TYPE = { file: 'File', dir: 'Directory', symlink: 'SymbolicLink', hardlink: 'Link' } as const;

interface Member {
  path: string;
  linkpath: string | undefined;
  size: number;
  mtime: Date;
}

// One Header, refilled for every member (encoding is synchronous): tar-stream.ts encodes tens of
// thousands, and most of them share an mtime (a checkout, a build), so its Date is reused too.
const header = new Header();
let lastMtime: Date = new Date(0);

/** fills `header` for `h` (every field, nothing left from the member before) */
function member(h: TarHeader): Member {
  const path = h.type === 'dir' ? `${h.name.replace(/\/+$/, '')}/` : h.name;
  const linkpath = h.type === 'symlink' || h.type === 'hardlink' ? (h.linkname ?? '') : undefined;
  const size = h.type === 'file' ? (h.size ?? 0) : 0;
  const ms = Math.floor(h.mtime) * 1000;
  const mtime = lastMtime.getTime() === ms ? lastMtime : (lastMtime = new Date(ms));
  header.path = path;
  header.type = TYPE[h.type];
  header.mode = h.mode & 0o7777;
  header.uid = 0;
  header.gid = 0;
  header.size = size;
  header.mtime = mtime;
  header.linkpath = linkpath;
  return { path, linkpath, size, mtime };
}

/** the pax extended header (its header block and records), for a member whose ustar block fell short */
function paxBlocks(m: Member): Buffer {
  // its records override the ustar fields (truncated name or link target, base-256 size) for any reader
  return new Pax({ path: m.path, linkpath: m.linkpath || undefined, size: m.size > 0 ? m.size : undefined, mtime: m.mtime }).encode();
}

/** Header block(s) of one member: a pax extended header first when ustar cannot hold it. */
export function tarHeader(h: TarHeader): Buffer {
  const m = member(h);
  const block = Buffer.alloc(BLOCK);
  if (!header.encode(block)) return block;
  return Buffer.concat([paxBlocks(m), block]);
}

/**
 * tarHeader written straight into `buf` at `off` (no buffer per header: tar-stream.ts writes tens of
 * thousands of them into its chunks); returns the offset after the header. Throws a RangeError
 * when the header does not fit.
 */
export function writeTarHeader(h: TarHeader, buf: Buffer, off: number): number {
  const m = member(h);
  buf.fill(0, off, off + BLOCK); // the encoder writes only the fields it has
  if (!header.encode(buf, off)) return off + BLOCK;
  const pax = paxBlocks(m);
  if (off + pax.length + BLOCK > buf.length) throw new RangeError(`tar header of ${h.name} does not fit (${pax.length + BLOCK} bytes at ${off} of ${buf.length})`);
  buf.copyWithin(off + pax.length, off, off + BLOCK);
  pax.copy(buf, off);
  return off + pax.length + BLOCK;
}

/** zero bytes after `size` bytes of data, up to the next 512-byte block */
export function padding(size: number): number {
  const r = size % BLOCK;
  return r === 0 ? 0 : BLOCK - r;
}
