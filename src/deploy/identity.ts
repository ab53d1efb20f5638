/** Who is deploying and what: performer name, machine, git commit/branch. */
import os from 'node:os';
import { execa } from 'execa';

export interface GitInfo {
  sha?: string;
  branch?: string;
  dirty?: boolean;
}

export async function gitInfo(dir: string): Promise<GitInfo> {
  const r = await execa('git', ['rev-parse', 'HEAD', '--abbrev-ref', 'HEAD'], { cwd: dir, reject: false });
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
  const r = await execa('git', ['config', 'user.name'], { cwd: dir, reject: false });
  const name = r.exitCode === 0 ? String(r.stdout).trim() : '';
  if (name) return name;
  return env.USER || env.LOGNAME || safeUserName();
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
