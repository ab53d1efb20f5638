import { describe, expect, it } from 'vitest';
import { ageText, describeHolder, lockStaleness, parseLock, serializeLock, type LockInfo } from '../../src/remote/steps/lock.js';

const base: LockInfo = { user: 'alice', machine: 'laptop', pid: 4242, time: '2026-11-22T09:30:00.000Z', token: 'abc123', command: 'deploy' };
const NOW = Date.parse('2026-11-22T09:35:30.000Z');
const here = (o: Partial<{ maxAgeMs: number }> = {}) => ({ now: NOW, maxAgeMs: o.maxAgeMs ?? 3_600_000 });

describe('parseLock', () => {
  it('round-trips serializeLock', () => {
    const info: LockInfo = { ...base, message: 'hotfix "42"', manual: true, env: 'production' };
    expect(parseLock(serializeLock(info))).toEqual(info);
    expect(parseLock(serializeLock(base) + '\n')).toEqual({ ...base, manual: false, message: undefined, env: undefined });
  });

  it.each([
    ['undefined', undefined],
    ['empty', ''],
    ['not JSON', 'locked by bob'],
    ['a torn line', '{"user":"alice","tok'],
    ['JSON without a token', '{"user":"alice"}'],
    ['JSON that is not an object', '"x"'],
    ['null', 'null'],
  ])('%s -> undefined', (_n, text) => {
    expect(parseLock(text)).toBeUndefined();
  });

  it('fills what is missing', () => {
    expect(parseLock('{"token":"t"}')).toEqual({ user: 'unknown', machine: 'unknown', pid: 0, time: '', token: 't', manual: false, message: undefined, command: undefined, env: undefined });
  });
});

describe('lockStaleness (a hint in the message only: the server decides takeovers)', () => {
  it('young: not stale, whatever the machine or pid', () => {
    expect(lockStaleness(base, here())).toEqual({ stale: false });
  });
  it('older than lock_stale_after: looks stale', () => {
    expect(lockStaleness(base, here({ maxAgeMs: 60_000 }))).toEqual({ stale: true, reason: 'it is 5m30s old' });
  });
  it('a lock held by hand is never stale', () => {
    expect(lockStaleness({ ...base, manual: true }, here({ maxAgeMs: 1 }))).toEqual({ stale: false });
  });
  it('no usable time: not stale', () => {
    expect(lockStaleness({ ...base, pid: 0, time: 'garbage' }, here({ maxAgeMs: 1 }))).toEqual({ stale: false });
  });
});

describe('describeHolder / ageText', () => {
  it('names the performer, machine, pid, what runs, age and message', () => {
    expect(describeHolder(base, NOW)).toBe('alice@laptop (pid 4242, deploy running, 5m30s ago)');
    expect(describeHolder({ ...base, command: 'rollback', message: 'hotfix' }, NOW)).toBe('alice@laptop (pid 4242, rollback running, 5m30s ago): "hotfix"');
    expect(describeHolder({ ...base, manual: true, message: 'incident 4711' }, NOW)).toBe('alice@laptop (pid 4242, locked by hand, 5m30s ago): "incident 4711"');
    expect(describeHolder({ ...base, time: '' }, NOW)).toBe('alice@laptop (pid 4242, deploy running)');
  });
  it.each([
    [-5, '0s'],
    [0, '0s'],
    [59_400, '59s'],
    [60_000, '1m00s'],
    [3_599_000, '59m59s'],
    [3_600_000, '1h00m'],
    [86_399_000, '23h59m'],
    [90_000_000, '1d1h'],
  ])('ageText(%i) = %s', (ms, text) => {
    expect(ageText(ms)).toBe(text);
  });
});
