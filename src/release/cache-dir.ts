/** Where this machine keeps what makes the next upload cheaper: content hashes and manifests. */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import envPaths from 'env-paths';

/** `$EE_DEPLOY_CACHE_DIR`, else the user cache dir (env-paths): hashes/ and manifests/ */
export function cacheDir(): string {
  return process.env.EE_DEPLOY_CACHE_DIR || envPaths('ee-deploy', { suffix: '' }).cache;
}

/** Replaces `file` with `text` (write + rename); failures are ignored: it is a cache. */
export function writeAtomic(file: string, text: string): void {
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  } catch {
    /* a cache: losing it costs time, never correctness */
  }
}
