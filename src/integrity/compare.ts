/**
 * Pure comparisons of a release's manifest with what is on disk (verify) or in the local source
 * (diff). Shared paths are links to shared/ in every release, and REVISION, REVISION_TIME and
 * BAD_RELEASE are written by the deploy itself: neither is part of the uploaded content.
 */
import { contentHash, type ManifestEntry } from '../release/manifest.js';
import type { LiveEntry } from '../remote/steps/live-release.js';

const METADATA = new Set(['REVISION', 'REVISION_TIME', 'BAD_RELEASE']);

/**
 * true for paths verify and diff leave out: release metadata, shared paths (and below them), and
 * the directories above a shared path (the deploy creates them to hold the link; what else they
 * hold is still compared)
 */
export function ignoredPath(shared: string[]): (p: string) => boolean {
  const roots = shared.map((s) => s.replace(/\/+$/, ''));
  const parents = new Set<string>();
  for (const r of roots) for (let i = r.indexOf('/'); i > 0; i = r.indexOf('/', i + 1)) parents.add(r.slice(0, i));
  return (p) => METADATA.has(p) || parents.has(p) || roots.some((r) => p === r || p.startsWith(`${r}/`));
}

export interface Drift {
  /** in both, but content, size, mode or type differ (`what` says which) */
  modified: { path: string; what: string }[];
  /** on the server, not in the manifest */
  added: string[];
  /** in the manifest, not on the server */
  missing: string[];
}

/**
 * Modes are compared as an upload leaves them: tar run by a non-root user applies its umask, so
 * a group/other write bit the manifest has and the file lacks is not drift; any other difference is.
 */
export function sameMode(manifest: number, live: number): boolean {
  const m = manifest & 0o7777;
  const l = live & 0o7777;
  return (l | 0o022) === (m | 0o022) && (l & ~m) === 0;
}

export function sha256HexToManifest(hex: string): string {
  return Buffer.from(hex, 'hex').subarray(0, 16).toString('base64url');
}

export function compareLive(manifest: ManifestEntry[], live: Map<string, LiveEntry>, ignore: (p: string) => boolean): Drift {
  const d: Drift = { modified: [], added: [], missing: [] };
  const seen = new Set<string>();
  for (const e of manifest) {
    if (ignore(e.path)) continue;
    seen.add(e.path);
    const l = live.get(e.path);
    if (!l) {
      d.missing.push(e.path);
      continue;
    }
    const what: string[] = [];
    if (l.type !== e.type) what.push(`type ${e.type} -> ${l.type}`);
    else if (e.type === 'f') {
      if (l.size !== e.size) what.push(`size ${e.size} -> ${l.size}`);
      if (!l.sha256 || sha256HexToManifest(l.sha256) !== e.hash) what.push('content');
    } else if (e.type === 'l' && (l.target === undefined || contentHash(l.target) !== e.hash)) what.push('link target');
    if (l.type === e.type && e.type !== 'l' && !sameMode(e.mode, l.mode)) what.push(`mode ${(e.mode & 0o7777).toString(8)} -> ${l.mode.toString(8)}`);
    if (what.length) d.modified.push({ path: e.path, what: what.join(', ') });
  }
  for (const p of live.keys()) if (!seen.has(p) && !ignore(p)) d.added.push(p);
  d.added.sort();
  return d;
}

export interface ContentDiff {
  add: { path: string; size: number }[];
  change: { path: string; size: number }[];
  remove: { path: string; size: number }[];
  /** bytes of file content a deploy would send (added and changed files, before compression) */
  bytes: number;
}

/** what a deploy of `local` would add, change and remove against the live release's manifest */
export function diffContent(local: ManifestEntry[], live: ManifestEntry[], ignore: (p: string) => boolean): ContentDiff {
  const old = new Map(live.filter((e) => !ignore(e.path)).map((e) => [e.path, e]));
  const out: ContentDiff = { add: [], change: [], remove: [], bytes: 0 };
  for (const e of local) {
    if (ignore(e.path)) continue;
    const o = old.get(e.path);
    old.delete(e.path);
    const same = o && o.type === e.type && (o.mode & 0o7777) === (e.mode & 0o7777) && o.hash === e.hash && o.size === e.size;
    if (same) continue;
    (o ? out.change : out.add).push({ path: e.path, size: e.size });
    // the upload sends every added or changed file whole (unchanged ones arrive as hard links)
    if (e.type === 'f') out.bytes += e.size;
  }
  for (const o of old.values()) out.remove.push({ path: o.path, size: o.size });
  return out;
}
