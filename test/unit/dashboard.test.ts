import { describe, expect, it } from 'vitest';
import { isLoopbackHost, tokenMatches } from '../../src/dashboard/server.js';
import { insightScript, parseInsight } from '../../src/remote/steps/insight.js';
import { envView, type Target } from '../../src/dashboard/state.js';
import type { HostSnapshot } from '../../src/metrics/collect.js';

describe('dashboard access helpers', () => {
  it('tokenMatches: exact match only, any length', () => {
    expect(tokenMatches('abc', 'abc')).toBe(true);
    expect(tokenMatches('abd', 'abc')).toBe(false);
    expect(tokenMatches('abcd', 'abc')).toBe(false);
    expect(tokenMatches('', 'abc')).toBe(false);
    expect(tokenMatches(undefined, 'abc')).toBe(false);
  });
  it('isLoopbackHost', () => {
    expect(['127.0.0.1', '127.1.2.3', 'localhost', '::1'].map(isLoopbackHost)).toEqual([true, true, true, true]);
    expect(['0.0.0.0', '192.168.1.5', '::', 'example.com'].map(isLoopbackHost)).toEqual([false, false, false, false]);
  });
});

describe('host snapshot script (one exec per host)', () => {
  it('quotes the path once and reads current, REVISION, lock, releases and the whole history', () => {
    const s = insightScript("/srv/it's here").toString();
    expect(s).toContain("R='/srv/it'\\''s here'");
    expect(s).toContain('cat "$HISTORY"');
  });
  it('parses the answer; the history is passed through as written, a torn last line included', () => {
    const out = [
      '@@ee current 20261101000000',
      '@@ee revision 3f2c1ab',
      '@@ee lock held {"user":"bob","token":"t"}',
      '@@ee release 20261031000000 1',
      '@@ee release 20261101000000 0',
      '@@ee history-begin',
      '{"id":"20261101000000","action":"deploy"}',
      '{"id":"2026110',
      '',
      '@@ee history-end',
      '',
    ].join('\n');
    expect(parseInsight(out)).toEqual({
      noLayout: false,
      current: '20261101000000',
      revision: '3f2c1ab',
      lock: '{"user":"bob","token":"t"}',
      releases: [
        { id: '20261031000000', bad: true },
        { id: '20261101000000', bad: false },
      ],
      foreign: [],
      historyText: '{"id":"20261101000000","action":"deploy"}\n{"id":"2026110\n',
    });
    expect(parseInsight('@@ee nolayout\n')).toMatchObject({ noLayout: true, historyText: '' });
  });
});

describe('envView (what the page shows for one environment)', () => {
  const t = { project: 'shop', env: 'production', config: { policy: {} } } as unknown as Target;
  const snap = (host: string, current: string | undefined, extra: Partial<HostSnapshot> = {}): HostSnapshot => ({ host, ok: true, current, releases: [], records: [], corrupt: 0, ...extra });

  it('flags hosts that disagree on the current release; agreeing or unreachable hosts do not', () => {
    expect(envView(t, [snap('web1', '20260101000000'), snap('web2', '20260102000000')]).disagree).toBe(true);
    expect(envView(t, [snap('web1', '20260101000000'), snap('web2', '20260101000000')]).disagree).toBe(false);
    // a host that cannot be reached shows as such; it is not a disagreement
    const v = envView(t, [snap('web1', '20260101000000'), snap('web2', undefined, { ok: false, error: 'connection refused' })]);
    expect(v.disagree).toBe(false);
    expect(v.hosts[1]).toMatchObject({ host: 'web2', ok: false, error: 'connection refused' });
  });

  it('the lock holder from any host, with the time it was taken (the page shows how long)', () => {
    const since = new Date(Date.now() - 90_000).toISOString();
    const v = envView(t, [snap('web1', '20260101000000'), snap('web2', '20260101000000', { lock: { user: 'carol', machine: 'ci-7', pid: 42, time: since, message: 'db work' } as HostSnapshot['lock'] })]);
    expect(v.lock).toEqual({ user: 'carol', machine: 'ci-7', pid: 42, since, message: 'db work', command: undefined });
    expect(envView(t, [snap('web1', '20260101000000')]).lock).toBeUndefined();
  });
});
