/**
 * The release archive as a tar stream, relative to the deploy root (prepareScript `reuse`):
 *   .ee-deploy/base/<id>/...        the upload: directories, symlinks, new and changed files
 *   (hard links) -> .ee-deploy/base/<base>/<path>   files unchanged since the previous upload
 *   .ee-deploy/base/<id>.manifest   the upload's manifest (release/manifest.ts)
 * The server then gives the release its own copy of the new base (remote/steps/upload-base.ts).
 */
import { createHash, type Hash } from 'node:crypto';
import { fstatSync } from 'node:fs';
import { Readable } from 'node:stream';
import { layout } from '../remote/layout.js';
import type { LocalTree } from './local-tree.js';
import { contentHash, hashDigestToManifest, serializeManifest } from './manifest.js';
import { CHUNK, closeQuietly, openSource, PIECE, readFully, SMALL_FILE } from './read-file.js';
import type { SourceEntry } from './scan.js';
import { END_OF_ARCHIVE, padding, tarHeader, writeTarHeader, type TarHeader } from './tar-writer.js';

export interface ArchiveSpec {
  local: LocalTree;
  /** release id being prepared */
  id: string;
  /** the upload base the unchanged files are hard-linked from, and which files those are */
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
    this.prefix = relativeToRoot(layout('.').baseFor(spec.id));
    if (spec.base) this.linkPrefix = relativeToRoot(layout('.').baseFor(spec.base.release));
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
        const fd = openSource(local.abs(e.path), e);
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
    const name = `${this.prefix}.manifest`;
    const base = this.spec.base;
    if (base?.manifestDigest === digest) {
      add(tarHeader({ name, type: 'hardlink', mode: 0o600, mtime: this.mtimeNow, linkname: `${this.linkPrefix}.manifest` }));
    } else {
      const data = Buffer.from(text, 'utf8');
      add(tarHeader({ name, type: 'file', mode: 0o600, mtime: this.mtimeNow, size: data.length }));
      add(data);
      const pad = padding(data.length);
      if (pad) add(Buffer.alloc(pad));
    }
    add(END_OF_ARCHIVE);
  }
}

function relativeToRoot(p: string): string {
  return p.replace(/^\.\//, '');
}
