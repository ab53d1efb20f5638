/**
 * Manifests this machine has seen, content-addressed by digest: `open` then sends only the
 * digest of the base release's manifest when it is known here, not the manifest itself.
 */
import { readdirSync, readFileSync, statSync, unlinkSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { cacheDir, writeAtomic } from './cache-dir.js';

const MANIFESTS_KEPT = 16;

/** Digests of the manifests this machine has (newest first): `open` then sends only a digest. */
export function knownManifests(): string[] {
  const dir = path.join(cacheDir(), 'manifests');
  try {
    return readdirSync(dir)
      .filter((f) => /^[0-9a-f]{32}$/.test(f))
      .map((f) => ({ f, t: statSync(path.join(dir, f)).mtimeMs }))
      .sort((a, b) => b.t - a.t)
      .slice(0, MANIFESTS_KEPT)
      .map((x) => x.f);
  } catch {
    return [];
  }
}

export function readCachedManifest(digest: string): string | undefined {
  const file = path.join(cacheDir(), 'manifests', digest);
  try {
    const text = readFileSync(file, 'utf8');
    const now = new Date();
    utimesSync(file, now, now); // most recently used stays in knownManifests()
    return text;
  } catch {
    return undefined;
  }
}

export function storeManifest(digest: string, text: string): void {
  const dir = path.join(cacheDir(), 'manifests');
  const file = path.join(dir, digest);
  try {
    // content-addressed: an existing file is this manifest; only mark it as recently used
    const now = new Date();
    utimesSync(file, now, now);
    return;
  } catch {
    /* not there yet */
  }
  writeAtomic(file, text);
  try {
    const keep = new Set(knownManifests());
    for (const f of readdirSync(dir)) if (!keep.has(f)) unlinkSync(path.join(dir, f));
  } catch {
    /* best effort */
  }
}
