/**
 * Fault-injection helpers: spawn the built CLI and SIGKILL it when a chosen output line
 * appears (plus a delay), tell which deploy phase a kill hit from the output, and check the
 * deploy tree's invariants: `current` points at a complete release, every
 * directory under releases/ is a complete release, nothing is left in staging.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CLI } from '../helpers/cli.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** a private XDG config dir, so the project registry never touches the real one */
const XDG = mkdtempSync(path.join(os.tmpdir(), 'ee-fault-xdg-'));

export function faultEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', XDG_CONFIG_HOME: XDG, XDG_CACHE_HOME: path.join(XDG, 'cache'), GITHUB_ACTOR: 'alice', GIT_CEILING_DIRECTORIES: os.tmpdir() };
  delete env.EE_DEPLOY_CACHE_DIR;
  delete env.SSH_AUTH_SOCK;
  delete env.GITLAB_USER_LOGIN;
  return { ...env, ...extra };
}

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout lines, in order, as they arrived */
  lines: string[];
  /** true when the harness SIGKILLed the CLI */
  killed: boolean;
  /** stdout lines seen before the kill */
  linesAtKill?: number;
  /** the release id the run announced (`info  release <id>`) */
  release?: string;
  pid?: number;
}

export interface SpawnOptions {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  /** SIGKILL `delayMs` after the first stdout line matching `on` (0: at once, in the same tick) */
  killAt?: { on: RegExp; delayMs: number; signal?: NodeJS.Signals };
  /** called for each stdout line as it arrives */
  onLine?: (line: string) => void;
  timeoutMs?: number;
}

/** Runs the built CLI; optionally SIGKILLs it at a moment defined by its own output. */
export function spawnCli(args: string[], o: SpawnOptions): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: o.cwd, env: o.env ?? faultEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    const run: Run = { code: null, signal: null, stdout: '', stderr: '', lines: [], killed: false, pid: child.pid };
    let partial = '';
    let armed = false;
    const kill = () => {
      if (run.killed || child.exitCode !== null) return;
      run.killed = true;
      run.linesAtKill = run.lines.length;
      child.kill(o.killAt?.signal ?? 'SIGKILL');
    };
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      run.stdout += d;
      partial += d;
      const parts = partial.split('\n');
      partial = parts.pop()!;
      for (const line of parts) {
        if (run.killed) break;
        run.lines.push(line);
        const m = /\binfo\s+release (\d{14}(?:-\d+)?)$/.exec(line);
        if (m) run.release = m[1];
        o.onLine?.(line);
        if (o.killAt && !armed && o.killAt.on.test(line)) {
          armed = true;
          if (o.killAt.delayMs <= 0) kill();
          else setTimeout(kill, o.killAt.delayMs);
        }
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (run.stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (partial && !run.killed) run.lines.push(partial);
      run.code = code;
      run.signal = signal;
      resolve(run);
    });
  });
}

/** Which step of a deploy a kill hit, from the last output line before it (run with -v). */
export function phaseAt(lines: string[]): string {
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i];
    if (/ is live on /.test(l)) return 'done';
    if (/\bok\s+current -> /.test(l)) return 'finish/prune';
    if (/@@ee hook after_switch/.test(l)) return 'after_switch hook';
    if (/@@ee switched /.test(l)) return 'switched';
    if (/switching current to/.test(l)) return 'switch';
    if (/\bok\s+release \S+ prepared/.test(l)) return 'pre-switch';
    if (/@@ee hook before_switch/.test(l)) return 'before_switch hook';
    if (/@@ee prepared/.test(l)) return 'before_switch hook';
    if (/@@ee uploaded/.test(l)) return 'link';
    if (/uploading \d+/.test(l)) return 'upload';
    if (/lock taken|\binfo\s+release /.test(l)) return 'open';
    if (/taking the deploy lock|connect/.test(l)) return 'lock';
  }
  return 'start';
}

// ---------------------------------------------------------------------------------------------
// apps and the invariants of the deploy tree

export interface FileInfo {
  size: number;
  sha: string;
}
export type Manifest = Map<string, FileInfo>;

/**
 * A deterministic app: `files` text files in nested dirs, one binary blob of `blobBytes` and
 * VERSION.txt. A new `version` rewrites the blob and every 4th text file, so an incremental
 * upload still has megabytes to send.
 */
export function makeApp(dir: string, o: { files: number; blobBytes: number; version?: number }): void {
  const version = o.version ?? 1;
  let x = 7;
  const rnd = () => ((x = (x * 1103515245 + 12345) & 0x7fffffff), x);
  writeFileSync(path.join(dir, 'VERSION.txt'), `v${version}\n`);
  for (let i = 0; i < o.files; i++) {
    const d = path.join(dir, `d${i % 17}`, `e${i % 5}`);
    mkdirSync(d, { recursive: true });
    const len = 50 + (rnd() % 3000);
    const v = i % 4 === 0 ? version : 1;
    writeFileSync(path.join(d, `f${i}.txt`), `${i}:v${v}:`.padEnd(len, String.fromCharCode(97 + (rnd() % 26))) + '\n');
  }
  if (o.blobBytes > 0) {
    x = version * 7919;
    const buf = Buffer.alloc(o.blobBytes);
    for (let i = 0; i < buf.length; i += 4) buf.writeUInt32LE(rnd(), i);
    writeFileSync(path.join(dir, 'blob.bin'), buf);
  }
}

function sha1(buf: Buffer): string {
  return createHash('sha1').update(buf).digest('hex');
}

async function walk(root: string, rel = '', out: Manifest = new Map(), skip: (rel: string) => boolean = () => false): Promise<Manifest> {
  const items = await readdir(path.join(root, rel), { withFileTypes: true });
  for (const it of items) {
    const r = rel ? `${rel}/${it.name}` : it.name;
    if (skip(r)) continue;
    if (it.isDirectory()) {
      out.set(r + '/', { size: 0, sha: 'dir' });
      await walk(root, r, out, skip);
    } else if (it.isSymbolicLink()) {
      out.set(r, { size: 0, sha: `link:${readlinkSync(path.join(root, r))}` });
    } else {
      const buf = await readFile(path.join(root, r));
      out.set(r, { size: buf.length, sha: sha1(buf) });
    }
  }
  return out;
}

export function manifest(dir: string): Promise<Manifest> {
  return walk(dir);
}

/** An app dir whose versions can be bumped; remembers each version's manifest (by VERSION.txt). */
export class VersionedApp {
  readonly versions = new Map<string, Manifest>();
  version = 0;
  constructor(
    readonly dir: string,
    readonly o: { files: number; blobBytes: number },
  ) {}
  async bump(): Promise<string> {
    this.version++;
    mkdirSync(this.dir, { recursive: true });
    makeApp(this.dir, { ...this.o, version: this.version });
    const v = `v${this.version}`;
    this.versions.set(v, await manifest(this.dir));
    return v;
  }
}

const META = new Set(['REVISION', 'REVISION_TIME', 'BAD_RELEASE']);

export interface TreeCheck {
  current?: string;
  releases: string[];
  /** human-readable problems; empty when every invariant holds */
  problems: string[];
}

/**
 * Checks a deploy root: `current` -> releases/<id> (relative) and complete; every release under
 * releases/ complete (exactly the app + shared links + REVISION files). `verified` caches releases
 * already compared (by id, inode and ctime: a complete release never changes).
 */
export async function checkTree(root: string, app: Manifest | VersionedApp, o: { shared: string[]; verified?: Set<string> }): Promise<TreeCheck> {
  const problems: string[] = [];
  const relDir = path.join(root, 'releases');
  const releases = existsSync(relDir) ? readdirSync(relDir).sort() : [];
  let current: string | undefined;
  const cur = path.join(root, 'current');
  if (existsSync(cur) || isLink(cur)) {
    if (!isLink(cur)) problems.push('current is not a symlink');
    else {
      const target = readlinkSync(cur);
      const m = /^releases\/([^/]+)$/.exec(target);
      if (!m) problems.push(`current -> ${target} (not releases/<id>)`);
      else {
        current = m[1];
        if (!releases.includes(current)) problems.push(`current -> ${target}, which does not exist`);
      }
    }
  }
  for (const id of releases) {
    const dir = path.join(relDir, id);
    let st;
    try {
      st = lstatSync(dir);
    } catch {
      continue; // removed while we looked (an orphaned script of a killed run): not in releases/ any more
    }
    if (!st.isDirectory()) {
      problems.push(`releases/${id} is not a directory`);
      continue;
    }
    // ctime too: a release removed and made again under the same id may get the same inode
    const key = `${id}:${st.ino}:${st.ctimeMs}`;
    if (o.verified?.has(key)) continue;
    const problem = await releaseProblem(dir, appFor(dir, app), o.shared).catch((e: Error) => (existsSync(dir) ? `unreadable: ${e.message}` : undefined));
    if (problem) problems.push(`releases/${id}: ${problem}`);
    else o.verified?.add(key);
  }
  return { current, releases, problems };
}

function appFor(dir: string, app: Manifest | VersionedApp): Manifest | string {
  if (!(app instanceof VersionedApp)) return app;
  const v = existsSync(path.join(dir, 'VERSION.txt')) ? readFileSync(path.join(dir, 'VERSION.txt'), 'utf8').trim() : '';
  return app.versions.get(v) ?? `no known app version in VERSION.txt (${JSON.stringify(v)})`;
}

async function releaseProblem(dir: string, app: Manifest | string, shared: string[]): Promise<string | undefined> {
  if (typeof app === 'string') return app;
  const got = await walk(dir, '', new Map(), (r) => META.has(r) || shared.includes(r) || r.startsWith('.ee-'));
  for (const f of ['REVISION', 'REVISION_TIME']) {
    const text = existsSync(path.join(dir, f)) ? readFileSync(path.join(dir, f), 'utf8').trim() : '';
    if (!text) return `${f} missing or empty`;
  }
  for (const s of shared) if (!isLink(path.join(dir, s))) return `shared link ${s} missing`;
  for (const [p, info] of app) {
    const g = got.get(p);
    if (!g) return `missing ${p}`;
    if (g.size !== info.size || g.sha !== info.sha) return `${p} differs (${g.size} vs ${info.size} bytes)`;
  }
  for (const p of got.keys()) if (!app.has(p)) return `unexpected ${p}`;
  return undefined;
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** entries of a directory (none when it does not exist) */
export function entries(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** what a clean, unlocked deploy root must not contain: leftovers of killed runs */
export function leftovers(root: string): string[] {
  const out: string[] = [];
  for (const e of entries(path.join(root, '.ee-deploy', 'staging'))) out.push(`staging/${e}`);
  for (const e of entries(path.join(root, '.ee-deploy', 'pending'))) out.push(`pending/${e}`);
  for (const e of entries(path.join(root, '.ee-deploy', 'trash'))) out.push(`trash/${e}`);
  for (const e of entries(root)) if (e.startsWith('.ee-current-')) out.push(e);
  if (existsSync(path.join(root, '.ee-deploy', 'lock'))) out.push('lock');
  return out;
}

/**
 * Waits until no process has `needle` on its command line (the remote scripts of a killed run
 * carry the deploy root in theirs; they run on as orphans until their current step ends).
 */
export async function waitForOrphans(needle: string, timeoutMs = 5000): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    let n = 0;
    for (const pid of await readdir('/proc').catch(() => [] as string[])) {
      if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
      const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (cmd.includes(needle)) n++;
    }
    if (n === 0 || Date.now() - t0 > timeoutMs) return n;
    await sleep(50);
  }
}

export function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** mounts a tmpfs of `size` (e.g. '2m') on `mnt` (root only: a failed mount fails the suite) */
export function mountTmpfs(mnt: string, size: string): void {
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mnt], { stdio: 'pipe' });
}

/** unmounts it once the runs' orphaned processes are gone (lazily if something still holds it) */
export async function unmountTmpfs(mnt: string): Promise<void> {
  await waitForOrphans(mnt, 3000);
  try {
    execFileSync('umount', [mnt], { stdio: 'pipe' });
  } catch {
    execFileSync('umount', ['-l', mnt], { stdio: 'pipe' });
  }
}
