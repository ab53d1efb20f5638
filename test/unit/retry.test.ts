import { describe, expect, it } from 'vitest';
import { codeInMessage, describeNetworkError } from '../../src/util/net-errors.js';
import { retry } from '../../src/util/retry.js';
import { sleep } from '../../src/util/sleep.js';

describe('retry (util/retry.ts)', () => {
  it('retries until an outcome is final, reporting each attempt with the pause before the next', async () => {
    const seen: [string, number, number | undefined][] = [];
    const outcomes = ['fail', 'fail', 'ok'];
    const r = await retry({ delays: [1, 2, 3], attempt: async (n) => outcomes[n - 1], final: (o) => o === 'ok', onAttempt: (o, n, next) => seen.push([o, n, next]) });
    expect(r).toEqual({ attempts: 3, last: 'ok', aborted: false });
    expect(seen).toEqual([['fail', 1, 1], ['fail', 2, 2], ['ok', 3, undefined]]);
  });

  it('makes delays.length + 1 attempts at most; the last one has no pause after it', async () => {
    const seen: (number | undefined)[] = [];
    const r = await retry({ delays: [1, 1], attempt: async () => 'fail', final: () => false, onAttempt: (_o, _n, next) => seen.push(next) });
    expect(r.attempts).toBe(3);
    expect(seen).toEqual([1, 1, undefined]);
  });

  it('stops before another attempt when worthAnother says the budget is spent', async () => {
    const r = await retry({ delays: [1, 1], attempt: async () => 'fail', final: () => false, worthAnother: () => false });
    expect(r).toEqual({ attempts: 1, last: 'fail', aborted: false });
  });

  it('an abort during a pause ends the run at once and is reported, not thrown', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    const run = retry({ delays: [10_000], signal: ac.signal, attempt: async () => 'fail', final: () => false });
    setTimeout(() => ac.abort(), 20);
    expect(await run).toEqual({ attempts: 1, last: 'fail', aborted: true });
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('an already aborted signal runs no attempt', async () => {
    let calls = 0;
    const r = await retry({ delays: [], signal: AbortSignal.abort(), attempt: async () => ++calls, final: () => true });
    expect(r).toEqual({ attempts: 0, last: undefined, aborted: true });
    expect(calls).toBe(0);
  });
});

describe('sleep (util/sleep.ts)', () => {
  it('resolves early, without rejecting, when the signal aborts', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ac.abort(new Error('stop')), 10);
    await expect(sleep(10_000, ac.signal)).resolves.toBeUndefined();
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});

describe('describeNetworkError (util/net-errors.ts)', () => {
  const sys = (code: string, message = code) => Object.assign(new Error(message), { code });

  it('one line per code, found through the cause chain undici wraps errors in', () => {
    expect(describeNetworkError(sys('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:1'))).toMatchObject({ message: 'connection refused', retryable: true });
    expect(describeNetworkError(new TypeError('fetch failed', { cause: sys('ECONNRESET') }))).toMatchObject({ message: 'connection reset by the remote host', code: 'ECONNRESET' });
    expect(describeNetworkError(sys('UND_ERR_CONNECT_TIMEOUT'))).toMatchObject({ message: 'connection timed out', retryable: false });
  });

  it('names the host for name-resolution failures when given one', () => {
    expect(describeNetworkError(sys('ENOTFOUND')).message).toBe('host not found');
    expect(describeNetworkError(sys('ENOTFOUND'), { host: 'db1.example' }).message).toBe('host name "db1.example" not found');
  });

  it('TLS problems keep their reason and code and are not retried', () => {
    expect(describeNetworkError(sys('DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'))).toEqual({ message: 'TLS error: self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT)', code: 'DEPTH_ZERO_SELF_SIGNED_CERT', retryable: false });
  });

  it('anything else: its own message on one line, with its code', () => {
    expect(describeNetworkError(sys('EWEIRD', 'strange\nthing')).message).toBe('strange thing (EWEIRD)');
    expect(codeInMessage('Connection error: connect ECONNREFUSED 127.0.0.1:25')).toBe('ECONNREFUSED');
    expect(codeInMessage('EAUTH Invalid login')).toBeUndefined();
  });
});
