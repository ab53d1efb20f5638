import { describe, expect, it } from 'vitest';
import { previousRelease, type ReleaseInfo } from '../../src/deploy/plan.js';
import { selectPrune } from '../../src/remote/steps/prune.js';

const r = (id: string, bad = false): ReleaseInfo => ({ id, bad });
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
  it.each([
    ['keeps the newest', [A, B, C, D], 2, D, [], [A, B]],
    ['nothing to do', [A, B], 5, B, [], []],
    ['the current release is never pruned and counts toward keep', [A, B, C, D], 2, A, [], [B, C]],
    ['keep 1 keeps only current', [A, B, C, D], 1, B, [], [A, C, D]],
    ['protected releases count toward keep', [A, B, C, D], 2, D, [A], [B, C]],
    ['oldest first, any input order', [D, B, A, C], 1, D, [], [A, B, C]],
    ['suffixes sort as numbers', [C, C1, `${C}-2`, `${C}-10`], 2, `${C}-10`, [], [C, C1]],
    ['an unknown current protects nothing extra', [A, B, C], 1, D, [], [A, B]],
  ] as const)('%s', (_name, ids, keep, current, protect, expected) => {
    expect(selectPrune([...ids], keep, current, [...protect])).toEqual(expected);
  });
});
