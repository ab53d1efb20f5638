/** The scanned source tree with its content hashes (from the hash cache, or read when needed). */
import { createHash } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import path from 'node:path';
import { HashCache } from './hash-cache.js';
import { contentHash, hashDigestToManifest, type ManifestEntry } from './manifest.js';
import { readFileChunks } from './read-file.js';
import type { SourceEntry, SourceTree } from './scan.js';

/** What the local tree holds, with content hashes (filled lazily). Shared by every upload of a run. */
export class LocalTree {
  readonly hashes = new Map<string, string>();
  readonly targets = new Map<string, string>();
  private readonly cache: HashCache;
  private hashedAll = false;

  private constructor(readonly tree: SourceTree) {
    this.cache = HashCache.load(tree.dir);
    for (const e of tree.entries) {
      if (e.type === 'file') {
        const h = this.cache.get(e);
        if (h) this.hashes.set(e.path, h);
      }
    }
  }

  private static memo = new WeakMap<SourceTree, LocalTree>();
  static of(tree: SourceTree): LocalTree {
    let t = LocalTree.memo.get(tree);
    if (!t) {
      t = new LocalTree(tree);
      LocalTree.memo.set(tree, t);
    }
    return t;
  }

  abs(rel: string): string {
    return path.join(this.tree.dir, rel);
  }

  target(rel: string): string {
    let t = this.targets.get(rel);
    if (t === undefined) {
      t = readlinkSync(this.abs(rel));
      this.targets.set(rel, t);
    }
    return t;
  }

  /** files whose hash is not known from the cache */
  get missing(): number {
    let n = 0;
    for (const e of this.tree.entries) if (e.type === 'file' && !this.hashes.has(e.path)) n++;
    return n;
  }

  /** reads and hashes every file the cache could not vouch for */
  ensureHashes(): void {
    if (this.hashedAll) return;
    for (const e of this.tree.entries) {
      if (e.type !== 'file' || this.hashes.has(e.path)) continue;
      const h = createHash('sha256');
      readFileChunks(this.abs(e.path), e, (b) => h.update(b));
      this.record(e, hashDigestToManifest(h.digest()));
    }
    this.hashedAll = true;
  }

  record(e: SourceEntry, hash: string): void {
    this.hashes.set(e.path, hash);
    this.cache.set(e, hash);
  }

  /** the local manifest; every file must be hashed by now */
  manifestEntries(): ManifestEntry[] {
    return this.tree.entries.map((e) => {
      if (e.type === 'dir') return { path: e.path, type: 'd', mode: e.mode, size: 0, hash: '' };
      if (e.type === 'symlink') return { path: e.path, type: 'l', mode: e.mode, size: 0, hash: contentHash(this.target(e.path)) };
      const hash = this.hashes.get(e.path);
      if (hash === undefined) throw new Error(`internal: ${e.path} was not hashed`);
      return { path: e.path, type: 'f', mode: e.mode, size: e.size, hash };
    });
  }

  saveCache(): void {
    this.cache.retain(new Set(this.tree.entries.filter((e) => e.type === 'file').map((e) => e.path)));
    this.cache.save();
  }
}
