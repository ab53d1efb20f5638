/**
 * The local side of an upload: walk `source.dir` (minus excludes) and describe it (tar-stream.ts
 * builds the archive). Paths are relative, directories listed explicitly so empty ones survive.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { DeployError } from '../errors.js';
import { compileEntryExclude } from './exclude.js';

export interface SourceEntry {
  path: string; // relative, '/'-separated
  type: 'file' | 'dir' | 'symlink';
  size: number;
  mtimeMs: number;
  mode: number;
  /** with mtime and size: is the cached content hash still valid? (hash-cache.ts) */
  ino?: number;
  ctimeMs?: number;
}

export interface SourceTree {
  dir: string;
  entries: SourceEntry[];
  totalBytes: number;
  files: number;
}

/** Files a release must never contain: the release metadata names from the SPEC. */
const RESERVED = new Set(['REVISION', 'REVISION_TIME', 'BAD_RELEASE']);

export async function scanSource(dir: string, exclude: string[]): Promise<SourceTree> {
  const excluded = compileEntryExclude(exclude);
  const entries: SourceEntry[] = [];
  let totalBytes = 0;
  let files = 0;
  try {
    const st = await lstat(dir);
    if (!st.isDirectory()) throw new DeployError(`source.dir ${dir} is not a directory`, { step: 'scan' });
  } catch (e) {
    if (e instanceof DeployError) throw e;
    throw new DeployError(`source.dir ${dir} does not exist (did the build run?)`, { step: 'scan' });
  }
  // lstatSync on purpose: 20,000 awaited lstat() calls take ~5x longer. The walk still yields
  // every few ms, so connections being opened meanwhile (deploy.ts) make progress.
  let lastYield = performance.now();
  async function walk(rel: string): Promise<void> {
    if (performance.now() - lastYield > 4) {
      await new Promise((r) => setImmediate(r));
      lastYield = performance.now();
    }
    const abs = rel ? path.join(dir, rel) : dir;
    const items = readdirSync(abs, { withFileTypes: true });
    items.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const it of items) {
      const r = rel ? `${rel}/${it.name}` : it.name;
      if (excluded(r, it.name, it.isDirectory())) continue;
      if (!rel && RESERVED.has(it.name)) continue;
      if (it.name.startsWith('.ee-')) continue; // reserved for ee-deploy metadata inside releases
      const st = lstatSync(`${abs}/${it.name}`);
      if (st.isDirectory()) {
        entries.push({ path: r, type: 'dir', size: 0, mtimeMs: st.mtimeMs, mode: st.mode & 0o7777 });
        await walk(r);
      } else if (st.isSymbolicLink()) {
        entries.push({ path: r, type: 'symlink', size: 0, mtimeMs: st.mtimeMs, mode: st.mode & 0o7777 });
      } else if (st.isFile()) {
        entries.push({ path: r, type: 'file', size: st.size, mtimeMs: st.mtimeMs, mode: st.mode & 0o7777, ino: st.ino, ctimeMs: st.ctimeMs });
        totalBytes += st.size;
        files++;
      }
      // sockets, fifos, devices are not deployable: skipped
    }
  }
  await walk('');
  return { dir, entries, totalBytes, files };
}

/** A cheap fingerprint of the tree (paths, sizes, mtimes, modes) when there is no git commit. */
export function treeFingerprint(tree: SourceTree): string {
  const h = createHash('sha256');
  for (const e of tree.entries) h.update(`${e.type}\0${e.path}\0${e.size}\0${Math.floor(e.mtimeMs)}\0${e.mode}\n`);
  return h.digest('hex').slice(0, 40);
}
