import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import { openScript, parseState } from '../../src/remote/steps/open.js';
import { selectPrune } from '../../src/remote/steps/prune.js';

interface ReleaseInfo {
  id: string;
  bad: boolean;
}
const r = (id: string, bad = false): ReleaseInfo => ({ id, bad });

// "the previous release" is computed on the server (remote/steps/previous.ts): each case is laid
// out in a temp dir and read back through the open step, as a rollback reads it
const tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-previous-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
function previousRelease(releases: ReleaseInfo[], current: string | undefined): string | undefined {
  const root = path.join(tmp, `r${n++}`);
  mkdirSync(path.join(root, 'releases'), { recursive: true });
  for (const x of releases) {
    mkdirSync(path.join(root, 'releases', x.id));
    writeFileSync(path.join(root, 'releases', x.id, 'REVISION'), 'abc\n');
    if (x.bad) writeFileSync(path.join(root, 'releases', x.id, 'BAD_RELEASE'), 'x\n');
  }
  if (current) symlinkSync(`releases/${current}`, path.join(root, 'current'));
  return parseState(execFileSync('sh', ['-c', openScript(root, { readOnly: true }).text], { encoding: 'utf8' })).previous;
}
const A = '20261120100000';
const B = '20261121100000';
const C = '20261122100000';
const C1 = '20261122100000-1';
const D = '20261123100000';

describe('previousRelease', () => {
  it.each([
    ['the newest release older than current', [r(A), r(B), r(C)], C, B],
    ['in any input order', [r(C), r(A), r(B)], C, B],
    ['skips BAD_RELEASE', [r(A), r(B, true), r(C)], C, A],
    ['skips newer releases (current was rolled back)', [r(A), r(B), r(C), r(D)], B, A],
    ['a suffix is newer than its stem', [r(C), r(C1)], C1, C],
    ['nothing older', [r(A), r(B)], A, undefined],
    ['everything older is bad', [r(A, true), r(B, true), r(C)], C, undefined],
    ['no releases', [], C, undefined],
    ['no current: the newest good one', [r(A), r(B), r(C, true)], undefined, B],
  ] as const)('%s', (_name, releases, current, expected) => {
    expect(previousRelease([...releases], current)).toBe(expected);
  });
});

describe('selectPrune', () => {
  const E = '20261124100000';
  const F = '20261125100000';
  it.each([
    ['keeps the newest', [r(A), r(B), r(C), r(D)], 2, D, [A, B]],
    ['nothing to do', [r(A), r(B)], 5, B, []],
    ['the current release is never pruned (here beside the newest good ones)', [r(A), r(B), r(C), r(D)], 2, A, [B]],
    ['keep 1: the newest good one and current', [r(A), r(B), r(C), r(D)], 1, B, [A, C]],
    ['oldest first, any input order', [r(D), r(B), r(A), r(C)], 1, D, [A, B, C]],
    ['suffixes sort as numbers', [r(C), r(C1), r(`${C}-2`), r(`${C}-10`)], 2, `${C}-10`, [C, C1]],
    ['an unknown current protects nothing extra', [r(A), r(B), r(C)], 1, D, [A, B]],
    // BAD_RELEASE releases do not count toward keep: a run of failed deploys never prunes the last good release
    ['marked releases do not count; the newest marked one stays', [r(A), r(B, true), r(C, true), r(D, true), r(E)], 2, E, [B, C]],
    ['after failed deploys, current on the last good one', [r(A), r(B), r(C, true), r(D, true), r(E, true)], 2, B, [C, D]],
    ['marked releases go first, then the oldest good ones', [r(A), r(B, true), r(C), r(D, true), r(E), r(F)], 2, F, [B, A, C]],
    ['a marked current stays', [r(A), r(B, true), r(C, true)], 1, B, []],
    ['names that are no release id are never selected', [r('lost+found'), r('v1'), r(A), r(B)], 1, B, [A]],
  ] as const)('%s', (_name, releases, keep, current, expected) => {
    expect(selectPrune([...releases], keep, current)).toEqual(expected);
  });
});
