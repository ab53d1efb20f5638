/**
 * What a deploy ships, from git: the head commit's time and the commits new since the release it
 * replaces (for lead time). Plain child_process, as identity.ts: a few ms per deploy.
 */
import { execFile } from 'node:child_process';

export interface Change {
  sha: string;
  time: string;
}

/** at most this many commits per record: a first deploy of an old repository is not its whole log */
export const MAX_CHANGES = 1000;

function git(cwd: string, args: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('git', args, { cwd, encoding: 'utf8', timeout: 10_000, maxBuffer: 8 << 20 }, (err, stdout) => resolve(err ? undefined : stdout));
  });
}

const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

function parseLog(out: string): Change[] {
  const list: Change[] = [];
  for (const line of out.split('\n')) {
    const [sha, time] = line.trim().split(' ');
    if (sha && SHA.test(sha) && time && Number.isFinite(Date.parse(time))) list.push({ sha, time: new Date(time).toISOString() });
  }
  return list;
}

/** ISO commit time of `sha` in the work tree at `dir` */
export async function commitTime(dir: string, sha: string): Promise<string | undefined> {
  if (!SHA.test(sha)) return undefined;
  return parseLog((await git(dir, ['log', '-1', '--format=%H %cI', sha])) ?? '')[0]?.time;
}

/**
 * Commits in `head` that `previous` (the replaced release's REVISION) lacks, newest first, at most
 * MAX_CHANGES. Without a previous commit git knows (first deploy, a content-hash release, history
 * rewritten), the head commit alone.
 */
export async function changesSince(dir: string, head: string, previous: string | undefined): Promise<Change[]> {
  if (!SHA.test(head)) return [];
  if (previous && SHA.test(previous)) {
    const out = await git(dir, ['log', `-${MAX_CHANGES}`, '--format=%H %cI', `${previous}..${head}`, '--']);
    if (out !== undefined) return parseLog(out);
  }
  return parseLog((await git(dir, ['log', '-1', '--format=%H %cI', head, '--'])) ?? '');
}
