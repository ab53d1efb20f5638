import { describe, expect, it } from 'vitest';
import { assertReleaseId, compareReleaseIds, isReleaseId, newReleaseId, sortReleaseIds, timestampId } from '../../src/remote/release-id.js';
import { layout } from '../../src/remote/layout.js';

const at = (iso: string) => new Date(iso);

describe('release ids', () => {
  it.each([
    ['20261122093000', true],
    ['20261122093000-1', true],
    ['20261122093000-9999', true],
    ['20261122093000-10000', false],
    ['2026112209300', false],
    ['202611220930001', false],
    ['20261122093000-', false],
    ['20261122093000-a', false],
    ['../20261122093000', false],
    ['20261122093000/..', false],
    ['..', false],
    ['', false],
    ['20261122093000\n', false],
    ['$(touch x)', false],
  ])('isReleaseId(%j) = %s', (id, ok) => {
    expect(isReleaseId(id)).toBe(ok);
  });

  it('assertReleaseId throws on anything that could reach a shell or escape releases/', () => {
    expect(assertReleaseId('20261122093000')).toBe('20261122093000');
    expect(() => assertReleaseId('../../etc')).toThrow(/invalid release id "..\/..\/etc"/);
    expect(() => layout('/srv/shop').release('x/..')).toThrow(/invalid release id/);
    expect(layout('/srv/shop').release('20261122093000')).toBe('/srv/shop/releases/20261122093000');
  });

  it('timestampId is the UTC time, 14 digits', () => {
    expect(timestampId(at('2026-11-22T09:30:00.999Z'))).toBe('20261122093000');
    expect(timestampId(at('2026-01-02T03:04:05+02:00'))).toBe('20260102010405');
  });

  it('newReleaseId: the timestamp alone, the next free second on collision, never older than the newest', () => {
    const t = at('2026-11-22T09:30:00Z');
    expect(newReleaseId([], t)).toBe('20261122093000');
    expect(newReleaseId(['20261121170000'], t)).toBe('20261122093000');
    expect(newReleaseId(['20261122093000'], t)).toBe('20261122093001');
    expect(newReleaseId(['20261122093000', '20261122093001'], t)).toBe('20261122093002');
    // a gap left by a pruned release is not reused: the new id sorts after every existing one
    expect(newReleaseId(['20261122093000', '20261122093005'], t)).toBe('20261122093006');
    // carries over minutes, days, years
    expect(newReleaseId(['20261231235959'], at('2026-12-31T23:59:59Z'))).toBe('20270101000000');
    // a suffixed id an older version made: the second after its stem
    expect(newReleaseId(['20261122093000-9'], t)).toBe('20261122093001');
    // this machine's clock is behind the one that made the newest release
    expect(newReleaseId(['20261122093005'], t)).toBe('20261122093006');
    // junk names in releases/ are ignored
    expect(newReleaseId(['lost+found', 'tmp'], t)).toBe('20261122093000');
    // a 14-digit name that is no real time still gets an id after it
    expect(newReleaseId(['20261399999999'], t)).toBe('20261400000000');
    expect(() => newReleaseId(['99999999999999'], t)).toThrow(/no free release id/);
    for (let i = 0, ids: string[] = []; i < 5; i++) {
      const id = newReleaseId(ids, t);
      expect(id).toMatch(/^\d{14}$/);
      ids.push(id);
    }
  });

  it('compares by time, then by suffix as a number', () => {
    expect(compareReleaseIds('20261122093000', '20261122093001')).toBeLessThan(0);
    expect(compareReleaseIds('20261122093000-2', '20261122093000-10')).toBeLessThan(0);
    expect(compareReleaseIds('20261122093000', '20261122093000-1')).toBeLessThan(0);
    expect(compareReleaseIds('20261122093000', '20261122093000')).toBe(0);
    expect(sortReleaseIds(['20261122093000-10', 'junk', '20261122093000-2', '20261122093000', '20261121000000'])).toEqual([
      '20261121000000',
      '20261122093000',
      '20261122093000-2',
      '20261122093000-10',
    ]);
  });
});
