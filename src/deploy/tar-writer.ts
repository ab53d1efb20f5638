/**
 * A minimal tar (ustar + pax) writer for release uploads: directories, files, symlinks and hard
 * links, uid/gid 0 and no user names (the server's user owns what it extracts). GNU tar and
 * BusyBox tar read it. Names longer than ustar allows, link targets over 100 bytes and sizes of
 * 8 GiB and more go into a pax extended header. Pure: builds headers, never touches files.
 */
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

const TYPEFLAG: Record<TarType, string> = { file: '0', hardlink: '1', symlink: '2', dir: '5' };
const MAX_OCTAL_11 = 0o77777777777;

function writeOctal(buf: Buffer, n: number, off: number, len: number): void {
  // len-1 octal digits, zero-padded, NUL-terminated (written from the right, no strings)
  let v = Math.max(0, Math.floor(n));
  buf[off + len - 1] = 0;
  for (let i = off + len - 2; i >= off; i--) {
    buf[i] = 0x30 + (v % 8);
    v = Math.floor(v / 8);
  }
}

/** the fields every header shares: uid/gid 0, checksum placeholder, ustar magic */
const TEMPLATE = (() => {
  const b = Buffer.alloc(BLOCK);
  writeOctal(b, 0, 108, 8);
  writeOctal(b, 0, 116, 8);
  b.fill(0x20, 148, 156);
  b.write('ustar\u000000', 257, 8, 'ascii');
  return b;
})();

/** ustar split of a long name into prefix (<= 155 bytes) + name (<= 100 bytes) at a '/' */
function splitName(name: string): { prefix: string; name: string } | undefined {
  if (Buffer.byteLength(name) <= 100) return { prefix: '', name };
  for (let i = name.indexOf('/'); i >= 0; i = name.indexOf('/', i + 1)) {
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (Buffer.byteLength(prefix) > 155) return undefined;
    if (rest && Buffer.byteLength(rest) <= 100) return { prefix, name: rest };
  }
  return undefined;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLen = Buffer.byteLength(body);
  const digits = String(bodyLen).length;
  let len = bodyLen + digits;
  if (String(len).length > digits) len = bodyLen + String(len).length;
  return `${len}${body}`;
}

function rawHeader(h: { name: string; prefix: string; mode: number; size: number; mtime: number; typeflag: string; linkname: string }): Buffer {
  const b = Buffer.allocUnsafe(BLOCK);
  TEMPLATE.copy(b);
  b.write(h.name, 0, 100, 'utf8');
  writeOctal(b, h.mode & 0o7777, 100, 8);
  writeOctal(b, h.size, 124, 12);
  writeOctal(b, h.mtime, 136, 12);
  b[156] = h.typeflag.charCodeAt(0);
  if (h.linkname) b.write(h.linkname, 157, 100, 'utf8');
  if (h.prefix) b.write(h.prefix, 345, 155, 'utf8');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i];
  writeOctal(b, sum, 148, 7); // six digits and a NUL...
  b[155] = 0x20; // ...then a space
  return b;
}

/** Header block(s) of one member: a pax header first when ustar cannot hold it. */
export function tarHeader(h: TarHeader): Buffer {
  const name = h.type === 'dir' ? `${h.name.replace(/\/+$/, '')}/` : h.name;
  const size = h.type === 'file' ? (h.size ?? 0) : 0;
  const linkname = h.linkname ?? '';
  const pax: string[] = [];
  let split = splitName(name);
  if (!split) {
    pax.push(paxRecord('path', name));
    split = { prefix: '', name: name.slice(0, 99) };
  }
  let link = linkname;
  if (Buffer.byteLength(linkname) > 100) {
    pax.push(paxRecord('linkpath', linkname));
    link = linkname.slice(0, 99);
  }
  let sizeField = size;
  if (size > MAX_OCTAL_11) {
    pax.push(paxRecord('size', String(size)));
    sizeField = 0;
  }
  const main = rawHeader({ name: split.name, prefix: split.prefix, mode: h.mode, size: sizeField, mtime: h.mtime, typeflag: TYPEFLAG[h.type], linkname: link });
  if (pax.length === 0) return main;
  const data = Buffer.from(pax.join(''), 'utf8');
  const xh = rawHeader({ name: 'PaxHeader', prefix: '', mode: 0o644, size: data.length, mtime: h.mtime, typeflag: 'x', linkname: '' });
  return Buffer.concat([xh, data, Buffer.alloc(padding(data.length)), main]);
}

/** zero bytes after `size` bytes of data, up to the next 512-byte block */
export function padding(size: number): number {
  const r = size % BLOCK;
  return r === 0 ? 0 : BLOCK - r;
}
