/** Who is deploying and what: performer name, machine, git commit/branch. */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface GitInfo {
  sha?: string;
  branch?: string;
  dirty?: boolean;
}

/**
 * The commit of the git work tree holding `dir` (a release's source.dir, which may sit in another
 * repository than the config, or in none). `dir` may not exist yet (a build's output dir): its
 * nearest existing parent is in the same work tree.
 */
export async function gitInfo(dir: string): Promise<GitInfo> {
  const r = await git(existingAncestor(dir), ['rev-parse', 'HEAD', '--abbrev-ref', 'HEAD']);
  if (r.exitCode !== 0) return {};
  const [sha, branch] = String(r.stdout).trim().split('\n');
  if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(sha ?? '')) return {};
  // `dirty` is not computed: `git status` stats every tracked file (tens of ms on a large tree)
  // and nothing reads it
  return { sha, branch: branch === 'HEAD' ? undefined : branch };
}

/**
 * What a release's REVISION holds: the full commit, or, when not deploying from git, the first 16
 * hex digits of the source tree's fingerprint behind `content-`, so it never looks like a commit.
 */
export function revisionOf(git: GitInfo, fingerprint: string): string {
  return git.sha ?? `content-${fingerprint.slice(0, 16)}`;
}

function existingAncestor(dir: string): string {
  let d = path.resolve(dir);
  while (!existsSync(d) && path.dirname(d) !== d) d = path.dirname(d);
  return d;
}

/** Who deploys, as the history records it: the CI actor when set (the person who pushed, not the
 * runner's account), else git user.name, else $USER. */
export async function performer(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const ci = env.GITHUB_ACTOR || env.GITLAB_USER_LOGIN;
  if (ci) return ci;
  const r = await git(dir, ['config', 'user.name']);
  const name = r.exitCode === 0 ? String(r.stdout).trim() : '';
  if (name) return name;
  return env.USER || env.LOGNAME || safeUserName();
}

/** plain child_process: every deploy and rollback runs these, and execa costs more to load than git to run */
function git(cwd: string, args: string[]): Promise<{ exitCode: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile('git', args, { cwd, encoding: 'utf8', timeout: 10_000 }, (err, stdout) => {
      resolve({ exitCode: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout: stdout ?? '' });
    });
  });
}

function safeUserName(): string {
  try {
    return os.userInfo().username;
  } catch {
    return 'unknown';
  }
}

export function machineName(): string {
  return os.hostname();
}
