/**
 * Uploading a release: one tar stream per group of hosts that need the same bytes, built once and
 * streamed to all of them at the same time (fan-out with backpressure: the slowest host of a
 * batch sets the pace, nothing is buffered without bound).
 *
 * The archive is relative to the deploy root (prepareScript `rootArchive`):
 *   .ee-deploy/staging/<id>/...     the release: directories, symlinks, new and changed files
 *   (hard links) -> releases/<base>/<path>   files unchanged since the release `current` points at
 *   .ee-deploy/manifests/<id>       the new release's manifest (deploy/manifest.ts)
 * Unchanged files are known from the base release's manifest (printed by `open`, or only its
 * digest when this machine already has it) and the local content hashes, which are cached per
 * source directory and re-read only when a file's size, mtime, ctime or inode changed.
 *
 * Releases stay independent: tar creates a new file for everything it extracts (it never writes
 * into an existing one), and REVISION files are replaced, not rewritten. A hard-linked file is
 * shared with older releases, so it must be replaced (write a new file, rename it over), never
 * modified in place, by hooks and by the app (README: "Incremental uploads").
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, realpathSync, renameSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable, pipeline } from 'node:stream';
import { createGzip } from 'node:zlib';
import envPaths from 'env-paths';
import type { RemoteManifest } from '../remote/commands/scripts.js';
import { layout } from '../remote/layout.js';
import { contentHash, diffManifest, hashDigestToManifest, ManifestError, parseManifest, serializeManifest, type Manifest, type ManifestEntry } from './manifest.js';
import type { SourceEntry, SourceTree } from './source.js';
import { END_OF_ARCHIVE, padding, tarHeader, writeTarHeader, type TarHeader } from './tar-writer.js';

/** gzip level for hosts reached over a network (see README "Compression"); loopback and local hosts get none */
export const NETWORK_GZIP_LEVEL = 1;
/** chunks handed to the transport: big enough for few SSH writes, small enough to interleave hosts */
const CHUNK = 256 * 1024;
/** files up to this size are read into the current chunk; larger ones in PIECE-sized buffers */
const SMALL_FILE = CHUNK / 2;
const PIECE = 1024 * 1024;
/** per-host buffer in a fan-out before the producer waits for the slowest host */
const FANOUT_HIGH_WATER = 4 * 1024 * 1024;
const MANIFESTS_KEPT = 16;

// ------------------------------------------------------------------------------------- caches

/** `$EE_DEPLOY_CACHE_DIR`, else the user cache dir (env-paths): hashes/ and manifests/ */
export function cacheDir(): string {
  return process.env.EE_DEPLOY_CACHE_DIR || envPaths('ee-deploy', { suffix: '' }).cache;
}

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

function writeAtomic(file: string, text: string): void {
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  } catch {
    /* a cache: losing it costs time, never correctness */
  }
}

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

function readCachedManifest(digest: string): string | undefined {
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

function storeManifest(digest: string, text: string): void {
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

// ------------------------------------------------------------------------------- local tree

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

/** Reads a file of known size in chunks (one read for small files); a size change is an error. */
function readFileChunks(abs: string, e: SourceEntry, onChunk: (b: Buffer) => void): void {
  const fd = openSync(abs, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size !== e.size) throw new Error(`${e.path} changed while it was being uploaded (size ${e.size} -> ${size}); run the deploy again`);
    let left = size;
    const buf = Buffer.allocUnsafe(Math.min(Math.max(size, 1), SMALL_FILE));
    while (left > 0) {
      const want = Math.min(left, buf.length);
      let got = 0;
      while (got < want) {
        const n = readSync(fd, buf, got, want - got, null);
        if (n === 0) throw new Error(`${e.path} changed while it was being uploaded (shorter than ${e.size} bytes); run the deploy again`);
        got += n;
      }
      onChunk(want === buf.length ? buf : buf.subarray(0, want));
      left -= want;
    }
  } finally {
    closeSync(fd);
  }
}

// ------------------------------------------------------------------------------------ archive

export interface ArchiveSpec {
  local: LocalTree;
  /** release id being prepared */
  id: string;
  /** release the unchanged files are hard-linked from, and which files those are */
  base?: { release: string; linked: Set<string>; manifestDigest?: string };
  /** called once the manifest of the new release is complete */
  onManifest?: (text: string, digest: string) => void;
}

/**
 * The release archive as a Readable: headers and file data in ~256 KiB chunks, files read
 * synchronously as the consumer asks for more, content hashed on the way when not known yet.
 * (Measured: page-cache reads with readSync cost far less CPU than a promise per file on the
 * thread pool, which on a 2-core machine only competed with the SSH encryption for the cores.)
 * Large files are passed on in PIECE-sized buffers without being copied again.
 */
export class ReleaseArchive extends Readable {
  private i = 0;
  private done = false;
  private readonly prefix: string;
  private readonly linkPrefix?: string;
  private readonly mtimeNow = Math.floor(Date.now() / 1000);
  /** a large file being read across chunks */
  private cur?: { e: SourceEntry; fd: number; left: number; hash?: Hash };
  /** bytes of file data sent, and files sent / linked */
  sentBytes = 0;
  sentFiles = 0;
  linkedFiles = 0;

  constructor(private readonly spec: ArchiveSpec) {
    super({ highWaterMark: CHUNK });
    this.prefix = relativeToRoot(layout('.').stagingFor(spec.id));
    if (spec.base) this.linkPrefix = relativeToRoot(layout('.').release(spec.base.release));
  }

  override _read(): void {
    try {
      while (!this.done) {
        const parts = this.fill();
        let more = true;
        for (const p of parts) more = this.push(p);
        if (this.done) {
          this.push(null);
          return;
        }
        if (!more) return;
      }
    } catch (e) {
      this.destroy(e as Error);
    }
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    if (this.cur) closeQuietly(this.cur.fd);
    this.cur = undefined;
    cb(err);
  }

  /**
   * The next pieces: headers and small files read straight into one ~CHUNK buffer (no copies
   * after the read), or one PIECE of a large file in its own buffer.
   */
  private fill(): Buffer[] {
    const chunk = Buffer.allocUnsafe(CHUNK * 2);
    let off = 0;
    const header = (h: TarHeader) => {
      off = writeTarHeader(h, chunk, off);
    };
    const zeros = (n: number) => {
      chunk.fill(0, off, off + n);
      off += n;
    };
    const gathered = (): Buffer[] => (off === 0 ? [] : [chunk.subarray(0, off)]);
    const entries = this.spec.local.tree.entries;
    const local = this.spec.local;
    while (off < CHUNK) {
      const cur = this.cur;
      if (cur) {
        if (off > 0) return gathered(); // what came before goes first
        // a large file: one PIECE per call, handed on as is
        const buf = Buffer.allocUnsafe(Math.min(cur.left, PIECE));
        readFully(cur.fd, buf, cur.e);
        cur.hash?.update(buf);
        cur.left -= buf.length;
        const out = [buf];
        if (cur.left === 0) {
          this.cur = undefined;
          closeQuietly(cur.fd);
          if (cur.hash) local.record(cur.e, hashDigestToManifest(cur.hash.digest()));
          const pad = padding(cur.e.size);
          if (pad) out.push(Buffer.alloc(pad));
        }
        return out;
      }
      if (this.i >= entries.length) {
        this.done = true;
        const tail: Buffer[] = [];
        this.finish((b) => tail.push(b));
        return [...gathered(), ...tail];
      }
      const e = entries[this.i++];
      const name = `${this.prefix}/${e.path}`;
      const mtime = Math.floor(e.mtimeMs / 1000);
      if (e.type === 'dir') header({ name, type: 'dir', mode: e.mode, mtime });
      else if (e.type === 'symlink') header({ name, type: 'symlink', mode: e.mode, mtime, linkname: local.target(e.path) });
      else if (this.spec.base?.linked.has(e.path)) {
        header({ name, type: 'hardlink', mode: e.mode, mtime, linkname: `${this.linkPrefix}/${e.path}` });
        this.linkedFiles++;
      } else {
        header({ name, type: 'file', mode: e.mode, mtime, size: e.size });
        this.sentBytes += e.size;
        this.sentFiles++;
        const known = local.hashes.get(e.path);
        const fd = openSync(local.abs(e.path), 'r');
        try {
          const actual = fstatSync(fd).size;
          if (actual !== e.size) throw new Error(`${e.path} changed while it was being uploaded (size ${e.size} -> ${actual}); run the deploy again`);
        } catch (err) {
          closeQuietly(fd);
          throw err;
        }
        if (e.size > SMALL_FILE) {
          this.cur = { e, fd, left: e.size, hash: known === undefined ? createHash('sha256') : undefined };
          continue;
        }
        // off < CHUNK before the header (a few KB at most, pax included) and a small file is at most CHUNK / 2: it fits
        const data = chunk.subarray(off, off + e.size);
        try {
          readFully(fd, data, e);
        } finally {
          closeQuietly(fd);
        }
        if (known === undefined) local.record(e, contentHash(data));
        off += e.size;
        zeros(padding(e.size));
      }
    }
    return gathered();
  }

  /** the manifest last (every file is hashed by now), then the end-of-archive blocks */
  private finish(add: (b: Buffer) => void): void {
    const { text, digest } = serializeManifest(this.spec.local.manifestEntries());
    this.spec.onManifest?.(text, digest);
    const name = relativeToRoot(`${layout('.').manifests}/${this.spec.id}`);
    const base = this.spec.base;
    if (base?.manifestDigest === digest) {
      add(tarHeader({ name, type: 'hardlink', mode: 0o644, mtime: this.mtimeNow, linkname: relativeToRoot(`${layout('.').manifests}/${base.release}`) }));
    } else {
      const data = Buffer.from(text, 'utf8');
      add(tarHeader({ name, type: 'file', mode: 0o644, mtime: this.mtimeNow, size: data.length }));
      add(data);
      const pad = padding(data.length);
      if (pad) add(Buffer.alloc(pad));
    }
    add(END_OF_ARCHIVE);
  }
}

function readFully(fd: number, buf: Buffer, e: SourceEntry): void {
  let got = 0;
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, null);
    if (n === 0) throw new Error(`${e.path} changed while it was being uploaded (shorter than ${e.size} bytes); run the deploy again`);
    got += n;
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    /* already closed */
  }
}

function relativeToRoot(p: string): string {
  return p.replace(/^\.\//, '');
}

// ------------------------------------------------------------------------------------ fan-out

/**
 * Copies `src` to `n` outputs. The source pauses while any output's buffer is full and resumes
 * once all have drained; an output that is destroyed (its host failed) is dropped; when none is
 * left the source is destroyed.
 */
export function fanout(src: Readable, n: number, highWaterMark = FANOUT_HIGH_WATER): PassThrough[] {
  const outs = Array.from({ length: n }, () => new PassThrough({ highWaterMark }));
  const alive = new Set(outs);
  const blocked = new Set<PassThrough>();
  const maybeResume = () => {
    if (blocked.size === 0 && alive.size > 0 && src.isPaused()) src.resume();
  };
  for (const o of outs) {
    o.on('drain', () => {
      blocked.delete(o);
      maybeResume();
    });
    o.on('close', () => {
      alive.delete(o);
      blocked.delete(o);
      if (alive.size === 0) src.destroy();
      else maybeResume();
    });
    o.on('error', () => {
      /* the consumer's problem; 'close' follows */
    });
  }
  src.on('data', (chunk: Buffer) => {
    for (const o of alive) if (!o.write(chunk)) blocked.add(o);
    if (blocked.size) src.pause();
  });
  src.on('end', () => {
    for (const o of alive) o.end();
  });
  src.on('error', (e) => {
    for (const o of alive) o.destroy(e);
  });
  return outs;
}

// --------------------------------------------------------------------------------------- plan

export interface UploadTarget<T> {
  key: T;
  /** gzip level, or false */
  gzip: number | false;
  /** what `open` reported about the release `current` points at */
  manifest?: RemoteManifest;
}

export interface HostArchive {
  stdin: Readable;
  gzip: boolean;
  /** prepareScript option: members are relative to the deploy root */
  rootArchive: true;
  /** unchanged files arrive as hard links to this release */
  base?: string;
}

interface Group<T> {
  key: string;
  gzip: number | false;
  base?: { release: string; manifest: Manifest };
  members: T[];
}

export interface UploadSummary {
  files: number;
  /** files hard-linked from the base release (largest group) */
  linked: number;
  /** files and bytes sent (largest group) */
  sent: number;
  sentBytes: number;
  incremental: boolean;
}

export interface UploadPlanOptions<T> {
  tree: SourceTree;
  id: string;
  targets: UploadTarget<T>[];
  /** shared dirs and files: replaced by links in every release, so never hard-linked */
  shared: string[];
  /** hosts uploading at the same time */
  limit: number;
  /** no archive at all (dry run): hosts get an empty stream */
  dryRun?: boolean;
}

/**
 * Groups hosts by the archive they need (same base release and manifest, same compression),
 * hashes what must be hashed, and hands each host its stream: one archive per batch of a group,
 * fanned out to every host of the batch.
 */
export class UploadPlan<T> {
  readonly groups: Group<T>[] = [];
  readonly summary: UploadSummary;
  private manifest?: { text: string; digest: string };

  private constructor(
    private readonly o: UploadPlanOptions<T>,
    readonly local: LocalTree,
  ) {
    this.summary = { files: o.tree.files, linked: 0, sent: o.tree.files, sentBytes: o.tree.totalBytes, incremental: false };
  }

  static create<T>(o: UploadPlanOptions<T>): UploadPlan<T> {
    const local = LocalTree.of(o.tree);
    const plan = new UploadPlan(o, local);
    const byKey = new Map<string, Group<T>>();
    for (const t of o.targets) {
      const base = o.dryRun ? undefined : baseManifest(t.manifest);
      const key = `${t.gzip}|${base ? `${base.release}|${base.manifest.digest}` : ''}`;
      let g = byKey.get(key);
      if (!g) {
        g = { key, gzip: t.gzip, base, members: [] };
        byKey.set(key, g);
        plan.groups.push(g);
      }
      g.members.push(t.key);
    }
    // an incremental archive needs every hash before it starts (to know what is unchanged)
    if (plan.groups.some((g) => g.base)) local.ensureHashes();
    const biggest = [...plan.groups].sort((a, b) => b.members.length - a.members.length)[0];
    if (biggest?.base) {
      const d = plan.diff(biggest);
      const linked = new Set(d);
      let bytes = 0;
      for (const e of o.tree.entries) if (e.type === 'file' && !linked.has(e.path)) bytes += e.size;
      plan.summary.linked = linked.size;
      plan.summary.sent = o.tree.files - linked.size;
      plan.summary.sentBytes = bytes;
      plan.summary.incremental = true;
    }
    return plan;
  }

  private linkedCache = new Map<string, string[]>();
  /** files of the tree that can be hard-linked from the group's base release */
  private diff(g: Group<T>): string[] {
    if (!g.base) return [];
    let out = this.linkedCache.get(g.key);
    if (!out) {
      const d = diffManifest(this.local.manifestEntries(), g.base.manifest.entries);
      const shared = this.o.shared.map((s) => s.replace(/\/+$/, ''));
      out = d.unchanged.filter((p) => !shared.some((s) => p === s || p.startsWith(`${s}/`)));
      this.linkedCache.set(g.key, out);
    }
    return out;
  }

  private archive(g: Group<T> | { gzip: number | false; base?: undefined }): Readable {
    if (this.o.dryRun) return Readable.from([]);
    const base = 'key' in g && g.base ? { release: g.base.release, linked: new Set(this.diff(g as Group<T>)), manifestDigest: g.base.manifest.digest } : undefined;
    const packer = new ReleaseArchive({
      local: this.local,
      id: this.o.id,
      base,
      onManifest: (text, digest) => (this.manifest = { text, digest }),
    });
    if (g.gzip === false) return packer;
    const gz = createGzip({ level: g.gzip, chunkSize: 64 * 1024 });
    pipeline(packer, gz, () => {
      /* errors reach the consumers through gz */
    });
    return gz;
  }

  /**
   * Runs `fn` for every host, batch by batch (a batch: up to `limit` hosts of one group, all fed
   * from one archive at once). `send` hands `fn`'s exec the host's archive; when an incremental
   * upload fails in tar (the base release vanished, a file system without hard links...), it is
   * retried once with a full archive for that host alone.
   */
  async forEach(fn: (key: T, send: <R>(exec: (a: HostArchive) => Promise<R>) => Promise<R>) => Promise<void>): Promise<void> {
    const limit = Math.max(1, this.o.limit);
    for (const g of this.groups) {
      for (let i = 0; i < g.members.length; i += limit) {
        const batch = g.members.slice(i, i + limit);
        const src = this.archive(g);
        const streams: Readable[] = batch.length === 1 ? [src] : fanout(src, batch.length);
        await Promise.all(
          batch.map((key, j) =>
            fn(key, async (exec) => {
              const a: HostArchive = { stdin: streams[j], gzip: g.gzip !== false, rootArchive: true, base: g.base?.release };
              try {
                return await exec(a);
              } catch (e) {
                if (!g.base || !isTarFailure(e)) throw e;
                return await exec({ stdin: this.archive({ gzip: g.gzip }), gzip: g.gzip !== false, rootArchive: true });
              }
            }),
          ),
        );
      }
    }
  }

  /** keeps the hashes and the new manifest for the next deploy (content-addressed: safe even after a failure) */
  saveCaches(): void {
    if (this.o.dryRun) return;
    this.local.saveCache();
    if (this.manifest) storeManifest(this.manifest.digest, this.manifest.text);
  }
}

function baseManifest(m: RemoteManifest | undefined): { release: string; manifest: Manifest } | undefined {
  if (!m?.digest) return undefined;
  const text = m.text ?? (m.cached ? readCachedManifest(m.digest) : undefined);
  if (!text) return undefined;
  try {
    const manifest = parseManifest(text);
    if (manifest.digest !== m.digest) return undefined;
    if (m.text) storeManifest(manifest.digest, text);
    return { release: m.release, manifest };
  } catch (e) {
    if (e instanceof ManifestError) return undefined;
    throw e;
  }
}

/** the prepare failed while extracting (not in a hook): worth one retry without hard links */
function isTarFailure(e: unknown): boolean {
  const x = e as { stdout?: unknown; stderr?: unknown };
  const all = `${String(x?.stdout ?? '')}\n${String(x?.stderr ?? '')}`;
  return /@@ee failed upload: tar/.test(all) && !/^@@ee uploaded$/m.test(all);
}
