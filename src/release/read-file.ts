/** Synchronous reads of source files of a known size; a file that changed size meanwhile is an error. */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { SourceEntry } from './scan.js';

/** chunks handed to the transport: big enough for few SSH writes, small enough to interleave hosts */
export const CHUNK = 256 * 1024;
/** files up to this size are read into the current chunk; larger ones in PIECE-sized buffers */
export const SMALL_FILE = CHUNK / 2;
export const PIECE = 1024 * 1024;

/** Opens a source file; failing, says which file and why (`cannot read a/b: permission denied`). */
export function openSource(abs: string, e: SourceEntry): number {
  try {
    return openSync(abs, 'r');
  } catch (err) {
    const reason = ((err as Error).message.split(',')[0] ?? '').replace(/^[A-Z]+: /, '');
    throw new Error(`cannot read ${e.path}: ${reason || (err as NodeJS.ErrnoException).code}`, { cause: err });
  }
}

/** Reads a file of known size in chunks (one read for small files); a size change is an error. */
export function readFileChunks(abs: string, e: SourceEntry, onChunk: (b: Buffer) => void): void {
  const fd = openSource(abs, e);
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

export function readFully(fd: number, buf: Buffer, e: SourceEntry): void {
  let got = 0;
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, null);
    if (n === 0) throw new Error(`${e.path} changed while it was being uploaded (shorter than ${e.size} bytes); run the deploy again`);
    got += n;
  }
}

export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    /* already closed */
  }
}
