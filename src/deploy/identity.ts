/** Who is deploying and what: performer name, machine, git commit/branch. */
import { execFile } from 'node:child_process';
import os from 'node:os';

export interface GitInfo {
  sha?: string;
  branch?: string;
  dirty?: boolean;
}

export async function gitInfo(dir: string): Promise<GitInfo> {
  const r = await git(dir, ['rev-parse', 'HEAD', '--abbrev-ref', 'HEAD']);
  if (r.exitCode !== 0) return {};
  const [sha, branch] = String(r.stdout).trim().split('\n');
  // `dirty` is not computed: `git status` stats every tracked file (tens of ms on a large tree)
  // and nothing reads it
  return { sha, branch: branch === 'HEAD' ? undefined : branch };
}

/** SPEC: CI actor when set, else git user.name, else $USER. */
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
