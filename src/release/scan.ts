/**
 * The local side of an upload: walk `source.dir` (minus excludes) and describe it (tar-stream.ts
 * builds the archive). Paths are relative, directories listed explicitly so empty ones survive.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, type Dirent, type Stats } from 'node:fs';
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { DeployError } from '../errors.js';
import { compileEntryExcludeRule } from './exclude.js';

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
  /** what `exclude` removed, per pattern, in the order of first match */
  excluded?: ExcludedCount[];
}

export interface ExcludedCount {
  pattern: string;
  /** files (and links) removed, those inside excluded directories included */
  files: number;
  /** directories the pattern itself matched */
  dirs: number;
  /** counting inside excluded directories stopped at the budget: `files` is a lower bound */
  more?: boolean;
}

/** directory entries read, at most, to count what excluded directories hold (node_modules can be huge) */
const EXCLUDED_COUNT_BUDGET = 50_000;

/** Files a release must never contain: the metadata files the server writes into every release
 * (a same-named file in the app would be overwritten or mistaken for a marker). */
const RESERVED = new Set(['REVISION', 'REVISION_TIME', 'BAD_RELEASE']);

export async function scanSource(dir: string, exclude: string[]): Promise<SourceTree> {
  const excluded = compileEntryExcludeRule(exclude);
  const removed = new Map<string, ExcludedCount>();
  let budget = EXCLUDED_COUNT_BUDGET;
  /** files below an excluded directory (no lstat: names and types only), within the budget */
  const countFiles = (abs: string, c: ExcludedCount): void => {
    let items;
    try {
      items = readdirSync(abs, { withFileTypes: true });
    } catch {
      return;
    }
    for (const it of items) {
      if (--budget < 0) {
        c.more = true;
        return;
      }
      if (it.isDirectory()) countFiles(`${abs}/${it.name}`, c);
      else c.files++;
    }
  };
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
    const items = readDir(abs, rel);
    items.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const it of items) {
      const r = rel ? `${rel}/${it.name}` : it.name;
      const pattern = excluded(r, it.name, it.isDirectory());
      if (pattern !== undefined) {
        let c = removed.get(pattern);
        if (!c) removed.set(pattern, (c = { pattern, files: 0, dirs: 0 }));
        if (it.isDirectory()) {
          c.dirs++;
          countFiles(`${abs}/${it.name}`, c);
        } else c.files++;
        continue;
      }
      if (!rel && RESERVED.has(it.name)) continue;
      if (it.name.startsWith('.ee-')) continue; // reserved for ee-deploy metadata inside releases
      const st = statEntry(`${abs}/${it.name}`, r);
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
  return { dir, entries, totalBytes, files, ...(removed.size ? { excluded: [...removed.values()] } : {}) };
}

/** why a file system call failed, as a few words: `permission denied` */
function fsReason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return (String(err?.message ?? '').split(',')[0] ?? '').replace(/^[A-Z]+: /, '') || String(err?.code ?? e);
}

/** a source directory's entries; unreadable or holding a name that is not UTF-8: an error naming it */
function readDir(abs: string, rel: string): Dirent[] {
  let items: Dirent[];
  try {
    items = readdirSync(abs, { withFileTypes: true });
  } catch (e) {
    throw new DeployError(`cannot read the directory ${rel || '.'} of source.dir: ${fsReason(e)}`, { step: 'scan', cause: e });
  }
  // a name that is not UTF-8 arrives with U+FFFD in it and could not be opened again: find it
  if (items.some((it) => it.name.includes('\uFFFD'))) {
    for (const raw of readdirSync(abs, { encoding: 'buffer' })) {
      if (Buffer.from(raw.toString('utf8'), 'utf8').equals(raw)) continue;
      const shown = [...raw].map((b) => (b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
      throw new DeployError(`the name of ${rel ? `${rel}/` : ''}${shown} in source.dir is not valid UTF-8: rename it (or exclude it)`, { step: 'scan' });
    }
  }
  return items;
}

function statEntry(abs: string, rel: string): Stats {
  try {
    return lstatSync(abs);
  } catch (e) {
    throw new DeployError(`cannot read ${rel} in source.dir: ${fsReason(e)}`, { step: 'scan', cause: e });
  }
}

/** A cheap fingerprint of the tree (paths, sizes, mtimes, modes) when there is no git commit. */
export function treeFingerprint(tree: SourceTree): string {
  const h = createHash('sha256');
  for (const e of tree.entries) h.update(`${e.type}\0${e.path}\0${e.size}\0${Math.floor(e.mtimeMs)}\0${e.mode}\n`);
  return h.digest('hex').slice(0, 40);
}

/** `node_modules -> 635 files (1 dir), *.log -> 2 files`: what exclude removed, for the deploy output */
export function describeExcluded(list: ExcludedCount[]): string {
  return list
    .map((c) => {
      const files = `${c.files}${c.more ? '+' : ''} file${c.files === 1 && !c.more ? '' : 's'}`;
      return `${c.pattern} -> ${files}${c.dirs ? ` (${c.dirs} dir${c.dirs === 1 ? '' : 's'})` : ''}`;
    })
    .join(', ');
}
