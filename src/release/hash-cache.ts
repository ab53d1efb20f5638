/**
 * Content hashes of a source directory, cached per directory so a redeploy re-reads only files
 * whose size, mtime, ctime or inode changed.
 */
import { createHash } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { cacheDir, writeAtomic } from './cache-dir.js';
import type { SourceEntry } from './scan.js';

type CachedHash = [size: number, mtimeMs: number, ino: number, ctimeMs: number, hash: string];

interface HashCacheFile {
  v: 1;
  dir: string;
  files: Record<string, CachedHash>;
}

/** Content hashes of one source directory, valid while size, mtime, ctime and inode match. */
export class HashCache {
  private dirty = false;
  private constructor(
    readonly file: string,
    private readonly dir: string,
    private files: Map<string, CachedHash>,
  ) {}

  static load(sourceDir: string): HashCache {
    let real = sourceDir;
    try {
      real = realpathSync(sourceDir);
    } catch {
      /* scanned already; keep the name */
    }
    const key = createHash('sha256').update(real).digest('hex').slice(0, 24);
    const file = path.join(cacheDir(), 'hashes', `${key}.json`);
    let files = new Map<string, CachedHash>();
    try {
      const doc = JSON.parse(readFileSync(file, 'utf8')) as HashCacheFile;
      if (doc.v === 1 && doc.dir === real && doc.files && typeof doc.files === 'object') files = new Map(Object.entries(doc.files));
    } catch {
      /* none yet, or unreadable: start empty */
    }
    return new HashCache(file, real, files);
  }

  get(e: SourceEntry): string | undefined {
    const c = this.files.get(e.path);
    if (!c || c[0] !== e.size || c[1] !== e.mtimeMs || c[2] !== (e.ino ?? 0) || c[3] !== (e.ctimeMs ?? 0) || !c[4]) return undefined;
    return c[4];
  }

  set(e: SourceEntry, hash: string, now = Date.now()): void {
    // "racily clean": a file changed within the timestamp granularity of its hashing may change
    // again without a new mtime; such hashes are used for this run but not trusted next time
    const racy = now - Math.max(e.mtimeMs, e.ctimeMs ?? 0) < 2000;
    this.files.set(e.path, [e.size, e.mtimeMs, e.ino ?? 0, e.ctimeMs ?? 0, racy ? '' : hash]);
    this.dirty = true;
  }

  /** forget files that are no longer in the tree */
  retain(paths: Set<string>): void {
    for (const p of this.files.keys()) {
      if (!paths.has(p)) {
        this.files.delete(p);
        this.dirty = true;
      }
    }
  }

  save(): void {
    if (!this.dirty) return;
    const doc: HashCacheFile = { v: 1, dir: this.dir, files: Object.fromEntries(this.files) };
    writeAtomic(this.file, JSON.stringify(doc));
    this.dirty = false;
  }
}
