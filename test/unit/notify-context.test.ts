/** The commits of a release, with messages, from a real git repository. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { commitChanges } from '../../src/deploy/notify-context.js';
import { issueKeysFrom } from '../../src/notify/channels/jira.js';

function repo(): { dir: string; commit: (msg: string) => string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ee-changes-'));
  const git = (...a: string[]) => execFileSync('git', a, { cwd: dir, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' } }).trim();
  git('init', '-q');
  let n = 0;
  return {
    dir,
    commit: (msg) => {
      writeFileSync(path.join(dir, `f${n++}`), msg);
      git('add', '.');
      git('commit', '-q', '-m', msg);
      return git('rev-parse', 'HEAD');
    },
  };
}

describe('commitChanges', () => {
  it('the commits since the previous release, newest first, with full messages; a first deploy gets its head commit', async () => {
    const r = repo();
    const a = r.commit('SHOP-1 first');
    const b = r.commit('SHOP-2 second\n\nbody mentions OPS-3');
    const c = r.commit('tidy');
    expect(await commitChanges(r.dir, c, a)).toEqual([
      { sha: c, message: 'tidy' },
      { sha: b, message: 'SHOP-2 second\n\nbody mentions OPS-3' },
    ]);
    expect(issueKeysFrom(await commitChanges(r.dir, c, a))).toEqual(['SHOP-2', 'OPS-3']);
    expect(await commitChanges(r.dir, c, undefined)).toEqual([{ sha: c, message: 'tidy' }]);
    // a previous commit this clone does not know (shallow clone, rewritten history): the head alone
    expect(await commitChanges(r.dir, c, 'f'.repeat(40))).toEqual([{ sha: c, message: 'tidy' }]);
    // the same commit again: nothing new
    expect(await commitChanges(r.dir, c, c)).toEqual([]);
    // no git commit (content-<hash> revisions): nothing
    expect(await commitChanges(r.dir, 'content-0123456789abcdef', a)).toEqual([]);
  });
});
