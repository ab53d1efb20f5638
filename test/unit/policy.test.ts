/**
 * Deploy policy, pure: windows in IANA zones across daylight-saving changes (Europe/Berlin's last
 * Sundays of March and October, New York's second Sunday of March), freezes, overrides, the rule
 * order, rollback never refused by windows or freezes.
 */
import { describe, expect, it } from 'vitest';
import { evaluatePolicy, mergePolicy, nextAllowed, type Policy } from '../../src/policy/evaluate.js';
import { freezeRange, inWindow, localTime, nextOpening, parseWindow, zonedInstant } from '../../src/policy/window.js';

const T = (iso: string) => Date.parse(iso);
const I = (t: number | undefined) => (t === undefined ? undefined : new Date(t).toISOString());

describe('windows', () => {
  const office = parseWindow('Mon-Fri 09:00-17:00 Europe/Berlin');

  it.each([
    ['2026-03-27T07:59:00Z', false], // Fri 08:59 CET
    ['2026-03-27T08:00:00Z', true], // Fri 09:00 CET
    ['2026-03-27T15:59:00Z', true], // Fri 16:59 CET
    ['2026-03-27T16:00:00Z', false], // Fri 17:00 CET
    ['2026-03-30T06:59:00Z', false], // Mon 08:59 CEST
    ['2026-03-30T07:00:00Z', true], // Mon 09:00 CEST: one hour earlier in UTC than on Friday
    ['2026-03-28T10:00:00Z', false], // Saturday
    ['2026-10-26T07:30:00Z', false], // Mon 08:30 CET after the autumn change
    ['2026-10-26T08:00:00Z', true], // Mon 09:00 CET
  ])('%s inside office hours: %s', (iso, want) => {
    expect(inWindow(office, T(iso))).toBe(want);
  });

  it('next opening across the spring change is 09:00 local (07:00Z), across the autumn change 08:00Z', () => {
    expect(I(nextOpening(office, T('2026-03-27T16:30:00Z')))).toBe('2026-03-30T07:00:00.000Z');
    expect(I(nextOpening(office, T('2026-10-23T16:30:00Z')))).toBe('2026-10-26T08:00:00.000Z');
  });

  it('a window starting inside the spring gap opens when the clock jumps', () => {
    const w = parseWindow('Sun 02:30-04:00 Europe/Berlin');
    // 2026-03-29: 02:00 CET -> 03:00 CEST at 01:00Z; 02:30 never happens
    expect(I(zonedInstant(2026, 3, 29, 150, 'Europe/Berlin'))).toBe('2026-03-29T01:00:00.000Z');
    expect(I(nextOpening(w, T('2026-03-28T12:00:00Z')))).toBe('2026-03-29T01:00:00.000Z');
    expect(inWindow(w, T('2026-03-29T00:59:00Z'))).toBe(false);
    expect(inWindow(w, T('2026-03-29T01:30:00Z'))).toBe(true); // 03:30 CEST
    expect(inWindow(w, T('2026-03-29T02:00:00Z'))).toBe(false); // 04:00 CEST
  });

  it('the repeated autumn hour is inside a window on both passes; the earlier one opens it', () => {
    const w = parseWindow('Sun 02:00-03:00 Europe/Berlin');
    // 2026-10-25: 03:00 CEST -> 02:00 CET at 01:00Z; 02:xx happens at 00:xxZ and again at 01:xxZ
    expect(inWindow(w, T('2026-10-25T00:30:00Z'))).toBe(true);
    expect(inWindow(w, T('2026-10-25T01:30:00Z'))).toBe(true);
    expect(inWindow(w, T('2026-10-25T02:00:00Z'))).toBe(false);
    expect(I(nextOpening(w, T('2026-10-24T12:00:00Z')))).toBe('2026-10-25T00:00:00.000Z');
  });

  it('other zones change on other dates (New York: second Sunday of March)', () => {
    const ny = parseWindow('Mon-Fri 09:00-17:00 America/New_York');
    expect(I(nextOpening(ny, T('2026-03-06T23:00:00Z')))).toBe('2026-03-09T13:00:00.000Z'); // EDT
    expect(I(nextOpening(ny, T('2026-02-27T23:00:00Z')))).toBe('2026-03-02T14:00:00.000Z'); // EST
    expect(localTime(T('2026-03-09T13:00:00Z'), 'America/New_York').hour).toBe(9);
  });

  it('overnight windows, day lists, daily, 24:00, UTC by default', () => {
    const night = parseWindow('Fri 22:00-02:00');
    expect(inWindow(night, T('2026-03-27T23:00:00Z'))).toBe(true); // Fri 23:00
    expect(inWindow(night, T('2026-03-28T01:59:00Z'))).toBe(true); // Sat 01:59
    expect(inWindow(night, T('2026-03-28T02:00:00Z'))).toBe(false);
    expect(inWindow(night, T('2026-03-26T23:00:00Z'))).toBe(false); // Thu
    expect(parseWindow('Mon,Wed,Fri 10:00-12:00 UTC').days).toEqual(new Set([1, 3, 5]));
    expect(parseWindow('Fri-Mon 00:00-24:00').days).toEqual(new Set([5, 6, 0, 1]));
    expect(parseWindow('daily 00:00-24:00').days.size).toBe(7);
  });

  it.each([
    ['Mon-Fri 9-17 Europe/Berlin', /invalid time/],
    ['Mon-Fri 09:00-17:00 Mars/Olympus', /unknown time zone/],
    ['Funday 09:00-17:00', /invalid days/],
    ['Mon 10:00-10:00', /empty/],
    ['Mon', /expected e\.g\./],
  ])('rejects %j', (text, re) => {
    expect(() => parseWindow(text)).toThrow(re);
  });
});

describe('freezes', () => {
  it('a date alone is a whole day in the policy zone, `to` inclusive', () => {
    expect(freezeRange({ from: '2026-12-20', to: '2027-01-04' }, 'Europe/Berlin').map((t) => I(t))).toEqual(['2026-12-19T23:00:00.000Z', '2027-01-04T23:00:00.000Z']);
    expect(freezeRange({ from: '2026-07-01T18:00', to: '2026-07-02T06:00:00Z' }, 'Europe/Berlin').map((t) => I(t))).toEqual(['2026-07-01T16:00:00.000Z', '2026-07-02T06:00:00.000Z']);
  });

  it('the next allowed time skips the freeze and then waits for a window', () => {
    const p: Policy = { windows: ['Mon-Fri 09:00-17:00 Europe/Berlin'], freeze: [{ from: '2026-12-20', to: '2027-01-04', reason: 'holidays' }] };
    // Mon 2027-01-04 is frozen all day; Tue 2027-01-05 09:00 CET = 08:00Z
    expect(I(nextAllowed(p, T('2026-12-21T10:00:00Z')))).toBe('2027-01-05T08:00:00.000Z');
  });
});

describe('evaluatePolicy', () => {
  const p: Policy = { windows: ['Mon-Fri 09:00-17:00 Europe/Berlin'], freeze: [{ from: '2026-12-20', to: '2027-01-04', reason: 'holidays' }], approvals: 1, require_signed_commits: true, deployers: ['alice', 'bob'] };
  const good = { action: 'deploy' as const, now: T('2026-03-30T08:00:00Z'), user: 'alice', signature: { ok: true, detail: 'good' }, approvals: 1 };

  it('allows a deploy that satisfies every rule', () => {
    expect(evaluatePolicy(p, good)).toMatchObject({ allowed: true, overridden: [] });
  });

  it('names the rule and, for windows, the next allowed time', () => {
    const r = evaluatePolicy(p, { ...good, now: T('2026-03-27T16:30:00Z') });
    expect(r.refusal?.rule).toBe('windows');
    expect(r.refusal?.nextAllowed).toBe('2026-03-30T07:00:00Z');
    expect(r.refusal?.message).toMatch(/next allowed 2026-03-30 09:00 Europe\/Berlin \(2026-03-30T07:00:00Z\)/);
    expect(evaluatePolicy(p, { ...good, now: T('2026-12-22T10:00:00Z') }).refusal).toMatchObject({ rule: 'freeze', nextAllowed: '2027-01-05T08:00:00Z' });
    expect(evaluatePolicy(p, { ...good, user: 'mallory' }).refusal?.rule).toBe('deployers');
    expect(evaluatePolicy(p, { ...good, signature: { ok: false, detail: 'commit abc is not signed' } }).refusal).toMatchObject({ rule: 'signed_commits', message: expect.stringMatching(/not signed/) });
    expect(evaluatePolicy(p, { ...good, approvals: 0 })).toMatchObject({ refusal: { rule: 'approvals' }, approvalsNeeded: 1 });
  });

  it('rollback is never refused by windows or freezes (deployers still apply)', () => {
    expect(evaluatePolicy(p, { ...good, action: 'rollback', now: T('2026-12-25T03:00:00Z'), approvals: 0, signature: undefined }).allowed).toBe(true);
    expect(evaluatePolicy(p, { ...good, action: 'rollback', user: 'mallory' }).refusal?.rule).toBe('deployers');
  });

  it('--override-policy passes windows and freezes, records them, and never passes approvals', () => {
    const r = evaluatePolicy(p, { ...good, now: T('2026-12-26T22:00:00Z'), override: 'hotfix' });
    expect(r.allowed).toBe(true);
    expect(r.overridden.map((x) => x.rule)).toEqual(['freeze', 'windows']);
    expect(evaluatePolicy(p, { ...good, now: T('2026-12-26T22:00:00Z'), override: 'hotfix', approvals: 0 }).refusal?.rule).toBe('approvals');
  });

  it('an environment overrides the top level key by key', () => {
    expect(mergePolicy({ approvals: 2, windows: ['daily 00:00-24:00'] }, { approvals: 0, windows: undefined })).toEqual({ approvals: 0, windows: ['daily 00:00-24:00'] });
  });
});
