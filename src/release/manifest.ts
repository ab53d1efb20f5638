/**
 * Release manifests: what a release holds, one line per entry (path, type, mode, size, content
 * hash), kept on the server beside the release as `<path>/.ee-deploy/manifests/<id>`. A redeploy
 * compares the local tree with the manifest of the release `current` points at and sends only
 * what differs; everything else arrives as hard links to that release. Pure: no I/O here.
 *
 *   #ee-manifest 1 <digest>
 *   f 644 1234 <hash> lib/app.js
 *   d 755 - - lib
 *   l 777 - <hash of the target> bin/latest
 *
 * `hash` is the first 128 bits of the SHA-256 of the content (base64url, 22 chars); `digest`
 * identifies the whole body (so a client can say "I already have that one"). Paths come last
 * on the line (spaces need no escaping); `\`, newline and carriage return are escaped.
 */
import { createHash } from 'node:crypto';

export const MANIFEST_HEADER = '#ee-manifest 1';

export type EntryType = 'f' | 'd' | 'l';

export interface ManifestEntry {
  path: string;
  type: EntryType;
  /** permission bits (mode & 0o7777) */
  mode: number;
  /** bytes (files only; 0 otherwise) */
  size: number;
  /** content hash (files), hash of the link target (symlinks), '' for directories */
  hash: string;
}

export interface Manifest {
  digest: string;
  entries: ManifestEntry[];
}

/** Content hash used in manifests: SHA-256, first 16 bytes, base64url. */
export function contentHash(data: Buffer | string): string {
  return createHash('sha256').update(data).digest().subarray(0, 16).toString('base64url');
}

/** finishes a streaming sha256 into the manifest form */
export function hashDigestToManifest(digest: Buffer): string {
  return digest.subarray(0, 16).toString('base64url');
}

function escapePath(p: string): string {
  return /[\\\n\r]/.test(p) ? p.replace(/[\\\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\n' ? '\\n' : '\\r')) : p;
}

function unescapePath(p: string): string {
  return p.includes('\\') ? p.replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c)) : p;
}

/** Text of a manifest (entries in the given order) and its digest. */
export function serializeManifest(entries: ManifestEntry[]): { text: string; digest: string } {
  const lines: string[] = new Array(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    const mode = (e.mode & 0o7777).toString(8);
    if (e.type === 'd') lines[i] = `d ${mode} - - ${escapePath(e.path)}`;
    else lines[i] = `${e.type} ${mode} ${e.type === 'f' ? e.size : '-'} ${e.hash} ${escapePath(e.path)}`;
  }
  const body = lines.length ? lines.join('\n') + '\n' : '';
  const digest = createHash('sha256').update(body).digest('hex').slice(0, 32);
  return { text: `${MANIFEST_HEADER} ${digest}\n${body}`, digest };
}

export class ManifestError extends Error {}

/** Parses manifest text; throws ManifestError on anything malformed or not matching its digest (the caller then uploads everything). */
export function parseManifest(text: string): Manifest {
  const nl = text.indexOf('\n');
  const header = nl < 0 ? text : text.slice(0, nl);
  const m = /^#ee-manifest 1 ([0-9a-f]{32})$/.exec(header.trimEnd());
  if (!m) throw new ManifestError(`not an ee-deploy manifest (header ${JSON.stringify(header.slice(0, 40))})`);
  const body = nl < 0 ? '' : text.slice(nl + 1);
  const entries: ManifestEntry[] = [];
  let start = 0;
  let lineNo = 1;
  while (start < body.length) {
    let end = body.indexOf('\n', start);
    if (end < 0) end = body.length;
    const line = body.slice(start, end);
    start = end + 1;
    lineNo++;
    if (!line) continue;
    // type, mode, size, hash, path (the path may contain spaces)
    const a = line.indexOf(' ');
    const b = line.indexOf(' ', a + 1);
    const c = line.indexOf(' ', b + 1);
    const d = line.indexOf(' ', c + 1);
    if (a !== 1 || b < 0 || c < 0 || d < 0) throw new ManifestError(`manifest line ${lineNo}: malformed`);
    const type = line[0] as EntryType;
    if (type !== 'f' && type !== 'd' && type !== 'l') throw new ManifestError(`manifest line ${lineNo}: unknown type ${JSON.stringify(line[0])}`);
    const mode = parseInt(line.slice(a + 1, b), 8);
    const sizeText = line.slice(b + 1, c);
    const size = sizeText === '-' ? 0 : Number(sizeText);
    const hash = line.slice(c + 1, d);
    const path = unescapePath(line.slice(d + 1));
    if (!Number.isInteger(mode) || !Number.isFinite(size) || !path) throw new ManifestError(`manifest line ${lineNo}: malformed`);
    entries.push({ path, type, mode, size, hash: hash === '-' ? '' : hash });
  }
  // the header names the body's digest: a body edited on the server (header kept) is not this manifest
  if (createHash('sha256').update(body).digest('hex').slice(0, 32) !== m[1]) throw new ManifestError('manifest body does not match its digest (edited on the server?)');
  return { digest: m[1], entries };
}

export interface ManifestDiff {
  /** files identical in both (same content hash, size and mode): hard-linked from the base release */
  unchanged: string[];
  /** files in both whose content, size, mode or type differ */
  changed: string[];
  /** entries only in the local tree */
  added: string[];
  /** entries only in the base release */
  deleted: string[];
}

/** What differs between the local tree and the base release's manifest. */
export function diffManifest(local: ManifestEntry[], base: ManifestEntry[]): ManifestDiff {
  const old = new Map<string, ManifestEntry>();
  for (const e of base) old.set(e.path, e);
  const out: ManifestDiff = { unchanged: [], changed: [], added: [], deleted: [] };
  const seen = new Set<string>();
  for (const e of local) {
    seen.add(e.path);
    const o = old.get(e.path);
    if (!o) out.added.push(e.path);
    else if (sameEntry(e, o)) {
      if (e.type === 'f') out.unchanged.push(e.path);
    } else out.changed.push(e.path);
  }
  for (const e of base) if (!seen.has(e.path)) out.deleted.push(e.path);
  return out;
}

function sameEntry(a: ManifestEntry, b: ManifestEntry): boolean {
  if (a.type !== b.type || (a.mode & 0o7777) !== (b.mode & 0o7777)) return false;
  if (a.type === 'd') return true;
  return a.hash === b.hash && (a.type !== 'f' || a.size === b.size);
}
