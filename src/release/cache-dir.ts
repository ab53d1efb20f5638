/** Where this machine keeps what makes the next upload cheaper: content hashes and manifests. */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import envPaths from 'env-paths';

/** `$EE_DEPLOY_CACHE_DIR`, else the user cache dir (env-paths): hashes/ and manifests/ */
export function cacheDir(): string {
  return process.env.EE_DEPLOY_CACHE_DIR || envPaths('ee-deploy', { suffix: '' }).cache;
}

/**
 * Replaces `file` with `text` (write + rename); failures are ignored: it is a cache. Private to
 * the user (0600 files in 0700 directories): manifests and hashes name every file of a project.
 */
export function writeAtomic(file: string, text: string): void {
  try {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, text, { mode: 0o600 });
    renameSync(tmp, file);
  } catch {
    /* a cache: losing it costs time, never correctness */
  }
}
