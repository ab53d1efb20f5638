/**
 * One private directory per process (mode 0700, made by mkdtemp) for the ControlMaster sockets,
 * the forwarding sockets and the generated ssh config. Unix socket paths are limited to ~104-108
 * bytes and ssh binds a temporary name 17 characters longer than ControlPath before renaming it,
 * so the directory lives directly under /tmp when $TMPDIR is long (macOS's is ~50 characters).
 * It is removed when the last transport closes and, whatever happens, when the process exits.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** longest directory we accept before falling back to /tmp */
const MAX_DIR = 40;

let dir: string | undefined;
let users = 0;
let names = 0;
/** called on exit: ends every master this process started (their process groups) */
const onExit = new Set<() => void>();

function cleanupSync(): void {
  for (const f of [...onExit]) {
    try {
      f();
    } catch {
      /* best effort at exit */
    }
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
}

let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', cleanupSync);
}

/** the directory, made on first use; pair every call with `releaseRuntimeDir()` */
export function acquireRuntimeDir(): string {
  users++;
  hookExit();
  if (!dir) {
    const base = os.tmpdir().length <= MAX_DIR ? os.tmpdir() : '/tmp';
    dir = mkdtempSync(path.join(base, 'ee-'));
  }
  return dir;
}

export function releaseRuntimeDir(): void {
  users = Math.max(0, users - 1);
  if (users === 0 && dir) {
    rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  }
}

/** a short unique name inside the directory (`m3`, `f7`, ...) */
export function runtimePath(prefix: string): string {
  if (!dir) throw new Error('runtime directory not acquired');
  return path.join(dir, `${prefix}${names++}`);
}

/** run `f` when the process exits (synchronously: kill a process group, nothing async) */
export function atExit(f: () => void): () => void {
  hookExit();
  onExit.add(f);
  return () => onExit.delete(f);
}
