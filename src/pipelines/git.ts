/**
 * The git side of pull mode: find the work tree that holds the source, fetch its branch from
 * the branch's remote (or `origin`), and fast-forward the checked-out branch to it. Never a
 * merge commit, never a reset: a work tree with local commits or conflicting local changes is
 * an error the user resolves, not something `watch` overwrites.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { UsageError } from '../errors.js';

export class GitError extends Error {}

/** a branch name as git allows it, minus anything that could be read as an option */
export function validBranch(b: string): boolean {
  return /^[A-Za-z0-9._\/-]{1,200}$/.test(b) && !b.startsWith('-') && !b.startsWith('/') && !b.endsWith('/') && !b.endsWith('.lock') && !b.includes('..') && !b.includes('//');
}

interface GitRun {
  code: number;
  stdout: string;
  stderr: string;
}

function git(cwd: string, args: string[], o: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<GitRun> {
  return new Promise((resolve) => {
    execFile(
      'git',
      args,
      // no prompt for credentials or host keys: an unattended fetch must fail, not hang
      { cwd, encoding: 'utf8', timeout: o.timeoutMs ?? 30_000, signal: o.signal, env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_SSH_COMMAND: process.env.GIT_SSH_COMMAND ?? 'ssh -o BatchMode=yes' }, maxBuffer: 4 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
        resolve({ code, stdout: stdout ?? '', stderr: stderr || (err && code !== 0 ? err.message : '') });
      },
    );
  });
}

/** git's own diagnosis: the first `fatal:`/`error:` line (its last lines are generic advice) */
function lastLine(s: string): string {
  const lines = s.trim().split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.find((l) => /^(fatal|error):/.test(l)) ?? lines[lines.length - 1] ?? '';
}

/** top of the work tree holding `dir` (or the first existing of `dirs`) */
export async function workTree(dirs: string[]): Promise<string> {
  const dir = dirs.find((d) => existsSync(d));
  if (!dir) throw new GitError(`none of ${dirs.join(', ')} exists`);
  const r = await git(dir, ['rev-parse', '--show-toplevel']);
  if (r.code !== 0) throw new GitError(`${dir} is not in a git work tree (watch and webhook deploy a git branch)`);
  return r.stdout.trim();
}

/** the branch checked out in `repo`, undefined on a detached HEAD */
export async function checkedOutBranch(repo: string): Promise<string | undefined> {
  const head = await git(repo, ['symbolic-ref', '--quiet', '--short', 'HEAD']);
  return head.code === 0 ? head.stdout.trim() || undefined : undefined;
}

export interface SyncResult {
  /** the checked-out commit before and after */
  before: string;
  after: string;
  remote: string;
}

/**
 * Fetches `branch` and fast-forwards the work tree to it. The work tree must have `branch`
 * checked out. An aborted fetch is killed (a fetch changes nothing until it completes); the
 * fast-forward itself is never interrupted, so the work tree is never left half-updated.
 */
export async function fetchAndFastForward(repo: string, branch: string, o: { signal?: AbortSignal; fetchTimeoutMs?: number } = {}): Promise<SyncResult> {
  if (!validBranch(branch)) throw new GitError(`invalid branch name "${branch}"`);
  const current = await checkedOutBranch(repo);
  if (current !== branch) {
    throw new GitError(`the work tree ${repo} is on ${current ? `branch ${current}` : 'a detached HEAD'}; check out ${branch} there (watch fast-forwards the checked-out branch)`);
  }
  const cfg = await git(repo, ['config', '--get', `branch.${branch}.remote`]);
  const remote = cfg.code === 0 && cfg.stdout.trim() && cfg.stdout.trim() !== '.' ? cfg.stdout.trim() : 'origin';
  const before = (await git(repo, ['rev-parse', '--verify', 'HEAD'])).stdout.trim();
  const f = await git(repo, ['fetch', '--quiet', '--no-tags', '--no-recurse-submodules', remote, `refs/heads/${branch}`], { timeoutMs: o.fetchTimeoutMs ?? 120_000, signal: o.signal });
  if (o.signal?.aborted) throw new GitError('fetch interrupted');
  if (f.code !== 0) throw new GitError(`git fetch ${remote} ${branch} failed: ${lastLine(f.stderr) || `exit ${f.code}`}`);
  const fetched = await git(repo, ['rev-parse', '--verify', 'FETCH_HEAD^{commit}']);
  if (fetched.code !== 0) throw new GitError(`git fetch ${remote} ${branch}: no commit fetched`);
  const target = fetched.stdout.trim();
  if (target !== before) {
    const m = await git(repo, ['merge', '--ff-only', '--quiet', target], { timeoutMs: 300_000 });
    if (m.code !== 0) throw new GitError(`cannot fast-forward ${branch} to ${target.slice(0, 12)} from ${remote}: ${lastLine(m.stderr) || `exit ${m.code}`} (local commits or changes in ${repo}?)`);
  }
  const after = (await git(repo, ['rev-parse', '--verify', 'HEAD'])).stdout.trim();
  return { before, after, remote };
}

/**
 * Start-up check of `watch` and `webhook`: the work tree holding the source (else the config)
 * with `branch` checked out. Misconfiguration is a usage error (exit 2) before anything runs.
 */
export async function pullRepo(dirs: string[], branch: string): Promise<string> {
  if (!validBranch(branch)) throw new UsageError(`--branch: invalid branch name "${branch}"`);
  let repo: string;
  try {
    repo = await workTree(dirs);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const current = await checkedOutBranch(repo);
  if (current !== branch) throw new UsageError(`the work tree ${repo} is on ${current ? `branch ${current}` : 'a detached HEAD'}; check out ${branch} there (pull mode fast-forwards the checked-out branch)`);
  return repo;
}
