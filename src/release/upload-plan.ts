/**
 * Uploading a release: one tar stream per group of hosts that need the same bytes, built once and
 * streamed to all of them at the same time (fan-out with backpressure: the slowest host of a
 * batch sets the pace, nothing is buffered without bound).
 *
 * The archive is relative to the deploy root (prepareScript `reuse`, release/tar-stream.ts): the
 * upload becomes the new upload base `.ee-deploy/base/<id>/` (with its manifest), files unchanged
 * since the previous upload arrive as hard links into the previous base, and the server gives the
 * release its own copy of the base (remote/steps/upload-base.ts). The base is never exposed to
 * hooks or apps, so what they do to a release never reaches the next one. Unchanged files are
 * known from the base's manifest (printed by `open`, or only its digest when this machine already
 * has it) and the local content hashes, which are cached per source directory and re-read only
 * when a file's size, mtime, ctime or inode changed.
 */
import { Readable, pipeline } from 'node:stream';
import { createGzip } from 'node:zlib';
import type { RemoteManifest } from '../remote/steps/open.js';
import { failedInTar } from '../remote/steps/prepare.js';
import type { Reuse } from '../remote/steps/upload-base.js';
import { isReleaseId } from '../remote/release-id.js';
import { fanout } from './fanout.js';
import { LocalTree } from './local-tree.js';
import { readCachedManifest, storeManifest } from './manifest-cache.js';
import { diffManifest, ManifestError, parseManifest, serializeManifest, type Manifest } from './manifest.js';
import type { SourceTree } from './scan.js';
import { ReleaseArchive } from './tar-stream.js';

export interface UploadTarget<T> {
  key: T;
  /** gzip level, or false */
  gzip: number | false;
  /** what `open` reported about the upload base */
  manifest?: RemoteManifest;
}

export interface HostArchive {
  stdin: Readable;
  gzip: boolean;
  /** prepareScript option: how the release gets the upload base's files */
  reuse: Reuse;
  /** unchanged files arrive as hard links into this upload base */
  base?: string;
  /** nothing changed since the upload base `base`: no archive (empty stdin), the release is made from that base */
  sameAsBase?: boolean;
}

interface Group<T> {
  key: string;
  gzip: number | false;
  base?: { release: string; manifest: Manifest };
  members: T[];
  /** the local tree is exactly the base (same manifest digest) */
  same?: boolean;
}

export interface UploadSummary {
  files: number;
  /** unchanged files taken from the upload base (largest group) */
  linked: number;
  /** files and bytes sent (largest group) */
  sent: number;
  sentBytes: number;
  incremental: boolean;
  /**
   * bytes the upload writes on the server's disk (largest group): the new base's new files, plus,
   * with reuse: copy, the release's own copy of every file (less where the file system makes
   * reflinks, which cannot be known in advance: this counts the full copy)
   */
  diskBytes: number;
  reuse: Reuse;
}

export interface UploadPlanOptions<T> {
  tree: SourceTree;
  id: string;
  targets: UploadTarget<T>[];
  /** shared dirs and files: replaced by links in every release, so always sent */
  shared: string[];
  /** how a release gets the files of the upload base (default copy) */
  reuse?: Reuse;
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
    const reuse = o.reuse ?? 'copy';
    this.summary = { files: o.tree.files, linked: 0, sent: o.tree.files, sentBytes: o.tree.totalBytes, incremental: false, reuse, diskBytes: 0 };
    this.summary.diskBytes = diskBytes(this.summary, o.tree.totalBytes);
  }

  static create<T>(o: UploadPlanOptions<T>): UploadPlan<T> {
    const local = LocalTree.of(o.tree);
    const plan = new UploadPlan(o, local);
    const byKey = new Map<string, Group<T>>();
    for (const t of o.targets) {
      const base = o.dryRun || o.reuse === 'none' ? undefined : baseManifest(t.manifest, o.id);
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
    if (plan.groups.some((g) => g.base)) {
      local.ensureHashes();
      const m = serializeManifest(local.manifestEntries());
      for (const g of plan.groups) g.same = g.base?.manifest.digest === m.digest;
      if (plan.groups.some((g) => g.same)) plan.manifest = m;
    }
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
      plan.summary.diskBytes = diskBytes(plan.summary, o.tree.totalBytes);
    }
    return plan;
  }

  /**
   * What the upload writes on `key`'s server (for the disk check before it): the files its
   * archive sends (none when nothing changed since its base), plus, with reuse: copy, the
   * release's own copy of every file (counted in full: whether the server's file system makes
   * reflinks cannot be known in advance).
   */
  diskNeed(key: T): { bytes: number; sent: number; copy: number } {
    const total = this.o.tree.totalBytes;
    const g = this.groups.find((x) => x.members.includes(key));
    let sent = total;
    if (g?.base) {
      const linked = new Set(this.diff(g));
      sent = 0;
      if (!g.same) for (const e of this.o.tree.entries) if (e.type === 'file' && !linked.has(e.path)) sent += e.size;
    }
    const bytes = diskBytes({ incremental: true, sentBytes: sent, reuse: this.summary.reuse }, total);
    return { bytes, sent, copy: bytes - sent };
  }

  private linkedCache = new Map<string, string[]>();
  /** files of the tree that can be hard-linked from the group's upload base */
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
    if (this.o.dryRun || ('same' in g && g.same)) return Readable.from([]);
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
   * upload fails in tar (the base vanished, a file system without hard links...), it is retried
   * once with a full archive for that host alone.
   */
  async forEach(fn: (key: T, send: <R>(exec: (a: HostArchive) => Promise<R>) => Promise<R>) => Promise<void>): Promise<void> {
    const limit = Math.max(1, this.o.limit);
    for (const g of this.groups) {
      for (let i = 0; i < g.members.length; i += limit) {
        const batch = g.members.slice(i, i + limit);
        const src = this.archive(g);
        // a local cause (a file unreadable or changing while read) ends the stream early; the
        // server's tar then fails too, but the local cause is the one worth reporting
        let local: Error | undefined;
        src.once('error', (e) => (local ??= e));
        const streams: Readable[] = batch.length === 1 ? [src] : fanout(src, batch.length);
        await Promise.all(
          batch.map((key, j) =>
            fn(key, async (exec) => {
              const a: HostArchive = { stdin: streams[j], gzip: g.gzip !== false, reuse: this.summary.reuse, base: g.base?.release, sameAsBase: g.same || undefined };
              try {
                return await exec(a);
              } catch (e) {
                if (local) throw local;
                if (!g.base || !isTarFailure(e)) throw e;
                const full = this.archive({ gzip: g.gzip });
                let localRetry: Error | undefined;
                full.once('error', (err) => (localRetry ??= err));
                try {
                  return await exec({ stdin: full, gzip: g.gzip !== false, reuse: this.summary.reuse });
                } catch (e2) {
                  throw localRetry ?? e2;
                }
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

/** bytes an upload writes on the server (see UploadSummary.diskBytes) */
function diskBytes(u: Pick<UploadSummary, 'incremental' | 'sentBytes' | 'reuse'>, totalBytes: number): number {
  const sent = u.incremental ? u.sentBytes : totalBytes;
  return u.reuse === 'copy' ? sent + totalBytes : sent;
}

function baseManifest(m: RemoteManifest | undefined, id: string): { release: string; manifest: Manifest } | undefined {
  // a base named like the release being made would be overwritten by it
  if (!m?.digest || !isReleaseId(m.release) || m.release === id) return undefined;
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
  return failedInTar(e as { stdout?: unknown; stderr?: unknown });
}
