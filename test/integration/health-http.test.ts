/**
 * The health-check engine against real local HTTP servers (node:http on 127.0.0.1) and real
 * shell scripts (LocalTransport: `sh -c`). No mocks.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runHealthChecks, summarizeFailure, formatAttempt, type AttemptEvent, type HealthTarget } from '../../src/health/index.js';
import { healthCheckSchema, healthDefaultsSchema, type HealthCheck, type HealthDefaults } from '../../src/config/schema.js';
import { InterruptedError } from '../../src/errors.js';
import { LocalTransport } from '../../src/transport/local.js';
import { clearSecrets, registerSecret } from '../../src/config/secrets.js';

let server: Server;
let base: string;
const sockets = new Set<Socket>();
const hits = new Map<string, number>();
const seenHeaders = new Map<string, IncomingMessage['headers']>();

function hit(key: string): number {
  const n = (hits.get(key) ?? 0) + 1;
  hits.set(key, n);
  return n;
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const key = url.pathname + url.search;
  const n = hit(key);
  seenHeaders.set(key, req.headers);
  switch (url.pathname) {
    case '/healthy':
      res.writeHead(200, { 'content-type': 'text/plain' }).end('status: ok\n');
      return;
    case '/flaky': {
      // fails `fail` times, then succeeds
      const fail = Number(url.searchParams.get('fail') ?? '2');
      if (n <= fail) res.writeHead(503).end('warming up');
      else res.writeHead(200).end('ok');
      return;
    }
    case '/error':
      res.writeHead(500).end('boom');
      return;
    case '/db-down':
      // a long body: only its first 200 bytes are shown (the cut falls inside the two-byte é)
      res.writeHead(503, { 'content-type': 'text/plain' }).end(`db down\n${'x'.repeat(191)}é${'y'.repeat(500)}`);
      return;
    case '/hang':
      return; // never answers
    case '/slow-body':
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial...');
      return; // body never ends
    case '/big':
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('x'.repeat(300_000));
      res.end('NEEDLE-at-the-end');
      return;
    case '/status': {
      const code = Number(url.searchParams.get('code'));
      res.writeHead(code, code >= 300 && code < 400 ? { location: '/healthy' } : {}).end();
      return;
    }
    case '/echo-header':
      res.writeHead(req.headers['x-health-token'] === 'letmein' ? 200 : 401).end();
      return;
    default:
      res.writeHead(404).end();
  }
}

beforeAll(async () => {
  server = createServer(handle);
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

afterEach(() => clearSecrets());

/** parse through the real schema, so durations etc. are what the config loader produces */
function check(raw: Record<string, unknown>): HealthCheck {
  return healthCheckSchema.parse(raw);
}
const fast: HealthDefaults = healthDefaultsSchema.parse({ timeout: '2s', retries: 3, backoff: { initial: '20ms', factor: 2, max: '1s' } });
const noTargets = { phase: 'post' as const, targets: [] as HealthTarget[] };

describe('http checks', () => {
  it('passes on a healthy endpoint in one attempt', async () => {
    const events: AttemptEvent[] = [];
    const r = await runHealthChecks([check({ name: 'homepage', http: `${base}/healthy`, expect: { status: 200, body_contains: 'ok' } })], fast, {
      ...noTargets,
      onAttempt: (e) => events.push(e),
    });
    expect(r.ok).toBe(true);
    expect(r.phase).toBe('post');
    expect(r.warnings).toEqual([]);
    expect(r.results).toHaveLength(1);
    const res = r.results[0];
    expect(res).toMatchObject({ name: 'homepage', kind: 'http', url: `${base}/healthy`, ok: true });
    expect(res.attempts).toHaveLength(1);
    expect(res.attempts[0]).toMatchObject({ attempt: 1, ok: true, detail: 'HTTP 200' });
    expect(res.attempts[0].delayBeforeNextMs).toBeUndefined();
    expect(events).toHaveLength(1);
    expect(formatAttempt(events[0])).toBe('homepage: attempt 1/3 ok (HTTP 200)');
    expect(summarizeFailure(r)).toBe('all post health checks passed');
  });

  it('retries a flaky endpoint with growing delays until it succeeds', async () => {
    const events: AttemptEvent[] = [];
    const defaults = healthDefaultsSchema.parse({ timeout: '2s', retries: 5, backoff: { initial: '50ms', factor: 2, max: '10s' } });
    const r = await runHealthChecks([check({ name: 'flaky', http: `${base}/flaky?fail=3` })], defaults, { ...noTargets, onAttempt: (e) => events.push(e) });
    expect(r.ok).toBe(true);
    const attempts = r.results[0].attempts;
    expect(attempts.map((a) => a.ok)).toEqual([false, false, false, true]);
    expect(hits.get('/flaky?fail=3')).toBe(4);
    expect(attempts.map((a) => a.delayBeforeNextMs)).toEqual([50, 100, 200, undefined]);
    expect(attempts[0].detail).toBe('HTTP 503; body: "warming up"');
    const gaps = attempts.slice(1).map((a, i) => a.startedAt - attempts[i].startedAt);
    // each gap is at least its delay (so the waits really grow by the factor, 2)
    expect(gaps[0]).toBeGreaterThanOrEqual(48);
    expect(gaps[1]).toBeGreaterThanOrEqual(98);
    expect(gaps[2]).toBeGreaterThanOrEqual(198);
    // and the wait after each attempt (the gap minus the attempt itself) is its delay, not more:
    // a late timer on a loaded machine is allowed for, a wait of the next step's delay is not
    const waits = attempts.slice(0, -1).map((a, i) => attempts[i + 1].startedAt - a.startedAt - a.durationMs);
    [50, 100, 200].forEach((d, i) => expect(waits[i], `wait #${i + 1}`).toBeLessThan(d * 1.5 + 150));
    expect(events.map(formatAttempt)).toEqual([
      'flaky: attempt 1/5 failed (HTTP 503; body: "warming up"), retrying in 0.05s',
      'flaky: attempt 2/5 failed (HTTP 503; body: "warming up"), retrying in 0.10s',
      'flaky: attempt 3/5 failed (HTTP 503; body: "warming up"), retrying in 0.20s',
      'flaky: attempt 4/5 ok (HTTP 200)',
    ]);
    expect(events.every((e) => e.maxAttempts === 5 && e.host === undefined)).toBe(true);
  });

  it('fails a 500 endpoint after `retries` attempts, with a one-line summary', async () => {
    const before = hits.get('/error') ?? 0;
    const r = await runHealthChecks([check({ name: 'homepage', http: `${base}/error` })], fast, noTargets);
    expect(r.ok).toBe(false);
    const res = r.results[0];
    expect(res.ok).toBe(false);
    expect(res.attempts).toHaveLength(3);
    expect((hits.get('/error') ?? 0) - before).toBe(3);
    expect(res.error).toBe('HTTP 500; body: "boom"');
    expect(res.attempts.at(-1)!.delayBeforeNextMs).toBeUndefined();
    expect(summarizeFailure(r)).toBe('health check "homepage" failed after 3 attempts: HTTP 500; body: "boom"');
  });

  it('a failed check shows the status and the first 200 bytes of the body, on one line', async () => {
    const r = await runHealthChecks([check({ name: 'db', http: `${base}/db-down`, retries: 1 })], fast, noTargets);
    expect(r.results[0].error).toBe(`HTTP 503; body: "db down\\n${'x'.repeat(191)}" (first 200 bytes)`);
    expect(summarizeFailure(r)).toContain('failed after 1 attempt: HTTP 503; body: "db down\\nxxx');
    // an empty body adds nothing
    const e = await runHealthChecks([check({ name: 'empty', http: `${base}/status?code=500`, retries: 1 })], fast, noTargets);
    expect(e.results[0].error).toBe('HTTP 500');
  });

  it('per-check retries override health_defaults', async () => {
    const r = await runHealthChecks([check({ name: 'once', http: `${base}/error`, retries: 1 })], fast, noTargets);
    expect(r.results[0].attempts).toHaveLength(1);
    expect(summarizeFailure(r)).toBe('health check "once" failed after 1 attempt: HTTP 500; body: "boom"');
  });

  it('a hanging server is cut off by the per-attempt timeout; the total stays bounded', async () => {
    const t0 = Date.now();
    const r = await runHealthChecks([check({ name: 'hang', http: `${base}/hang`, timeout: '200ms', retries: 2, backoff: { initial: '50ms' } })], fast, noTargets);
    const total = Date.now() - t0;
    expect(r.ok).toBe(false);
    const attempts = r.results[0].attempts;
    expect(attempts).toHaveLength(2);
    for (const a of attempts) {
      expect(a.detail).toBe('timed out after 0.20s');
      expect(a.durationMs).toBeGreaterThanOrEqual(190);
      expect(a.durationMs).toBeLessThan(2000);
    }
    // 2 x 200ms + 50ms backoff, plus slack for a loaded machine (the server never answers)
    expect(total).toBeLessThan(5000);
  });

  it('the timeout also covers a body that never ends', async () => {
    const r = await runHealthChecks([check({ name: 'slow', http: `${base}/slow-body`, timeout: '200ms', retries: 1 })], fast, noTargets);
    expect(r.ok).toBe(false);
    expect(r.results[0].error).toBe('timed out after 0.20s');
  });

  it('body_contains: match and mismatch', async () => {
    const r = await runHealthChecks(
      [
        check({ name: 'match', http: `${base}/healthy`, expect: { body_contains: 'status: ok' } }),
        check({ name: 'mismatch', http: `${base}/healthy`, expect: { body_contains: 'database: up' }, retries: 1 }),
        check({ name: 'far', http: `${base}/big`, expect: { body_contains: 'NEEDLE-at-the-end' } }),
      ],
      fast,
      noTargets,
    );
    const by = Object.fromEntries(r.results.map((x) => [x.name, x]));
    expect(by.match.ok).toBe(true);
    expect(by.far.ok).toBe(true);
    expect(by.mismatch.ok).toBe(false);
    expect(by.mismatch.error).toBe('HTTP 200 but the body does not contain "database: up"; body: "status: ok\\n"');
    expect(r.ok).toBe(false);
  });

  it('sends custom headers and the method', async () => {
    const r = await runHealthChecks(
      [
        check({ name: 'authed', http: `${base}/echo-header`, headers: { 'X-Health-Token': 'letmein' }, method: 'HEAD' }),
        check({ name: 'anon', http: `${base}/echo-header?anon`, retries: 1 }),
      ],
      fast,
      noTargets,
    );
    const by = Object.fromEntries(r.results.map((x) => [x.name, x]));
    expect(by.authed.ok).toBe(true);
    expect(seenHeaders.get('/echo-header')?.['x-health-token']).toBe('letmein');
    expect(by.anon.error).toBe('HTTP 401');
  });

  it('a secret in a header or URL never shows up in the report', async () => {
    registerSecret('tok-123456');
    const r = await runHealthChecks([check({ name: 'secret', http: `${base}/error?key=tok-123456`, headers: { Authorization: 'Bearer tok-123456' }, retries: 1 })], fast, noTargets);
    expect(seenHeaders.get('/error?key=tok-123456')?.authorization).toBe('Bearer tok-123456');
    expect(JSON.stringify(r)).not.toContain('tok-123456');
    expect(r.results[0].url).toBe(`${base}/error?key=***`);
  });

  it('expect.status: a single code or a list; redirects are not followed', async () => {
    const healthyBefore = hits.get('/healthy') ?? 0;
    const r = await runHealthChecks(
      [
        check({ name: 'list', http: `${base}/status?code=204`, expect: { status: [200, 204] } }),
        check({ name: 'single', http: `${base}/status?code=202`, expect: { status: 202 } }),
        check({ name: 'wrong', http: `${base}/status?code=200`, expect: { status: [201, 204] }, retries: 1 }),
        check({ name: 'redirect-expected', http: `${base}/status?code=301`, expect: { status: [301, 302] } }),
        check({ name: 'redirect-default', http: `${base}/status?code=302`, retries: 1 }),
      ],
      fast,
      noTargets,
    );
    const by = Object.fromEntries(r.results.map((x) => [x.name, x]));
    expect(by.list.ok).toBe(true);
    expect(by.single.ok).toBe(true);
    expect(by['redirect-expected'].ok).toBe(true);
    expect(by.wrong.error).toBe('HTTP 200, expected 201, 204');
    expect(by['redirect-default'].ok).toBe(false);
    expect(by['redirect-default'].error).toBe('HTTP 302 -> /healthy');
    expect(hits.get('/healthy') ?? 0).toBe(healthyBefore); // the redirect targets /healthy: never followed
  });

  it('a refused connection is a failed attempt with a readable reason', async () => {
    const s = createServer();
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    const port = (s.address() as AddressInfo).port;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    const r = await runHealthChecks([check({ name: 'down', http: `http://127.0.0.1:${port}/`, retries: 2 })], fast, noTargets);
    expect(r.results[0].attempts).toHaveLength(2);
    expect(r.results[0].error).toBe('connection refused');
  });

  it('insecure: true produces a warning for the caller', async () => {
    const r = await runHealthChecks([check({ name: 'tls-off', http: `${base}/healthy`, insecure: true })], fast, noTargets);
    expect(r.ok).toBe(true);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toContain('health check "tls-off": TLS certificate verification is disabled');
  });

  it('runs only the checks of the requested phase, concurrently', async () => {
    const checks = [
      check({ name: 'pre-one', http: `${base}/healthy`, phase: 'pre' }),
      check({ name: 'post-hang-a', http: `${base}/hang?a`, timeout: '300ms', retries: 1 }),
      check({ name: 'post-hang-b', http: `${base}/hang?b`, timeout: '300ms', retries: 1 }),
      check({ name: 'post-hang-c', http: `${base}/hang?c`, timeout: '300ms', retries: 1 }),
    ];
    const post = await runHealthChecks(checks, fast, noTargets);
    expect(post.results.map((x) => x.name)).toEqual(['post-hang-a', 'post-hang-b', 'post-hang-c']);
    // three 300ms timeouts side by side, not one after another: every attempt started before any ended
    const attempts = post.results.map((x) => x.attempts[0]);
    expect(attempts.every((a) => a.detail === 'timed out after 0.30s')).toBe(true);
    const lastStart = Math.max(...attempts.map((a) => a.startedAt));
    const firstEnd = Math.min(...attempts.map((a) => a.startedAt + a.durationMs));
    expect(lastStart, 'the attempts overlap').toBeLessThan(firstEnd);
    const pre = await runHealthChecks(checks, fast, { phase: 'pre', targets: [] });
    expect(pre.phase).toBe('pre');
    expect(pre.results.map((x) => x.name)).toEqual(['pre-one']);
    expect(pre.ok).toBe(true);
  });

  it('an AbortSignal mid-backoff rejects promptly with InterruptedError', async () => {
    const ac = new AbortController();
    const slow = healthDefaultsSchema.parse({ timeout: '2s', retries: 5, backoff: { initial: '10s' } });
    let attemptsSeen = 0;
    const t0 = Date.now();
    const run = runHealthChecks([check({ name: 'homepage', http: `${base}/error?abort` })], slow, {
      ...noTargets,
      signal: ac.signal,
      onAttempt: () => {
        attemptsSeen++;
        setTimeout(() => ac.abort(), 50); // while sleeping the 10s backoff
      },
    });
    await expect(run).rejects.toBeInstanceOf(InterruptedError);
    expect(Date.now() - t0).toBeLessThan(5000); // not the 10 s backoff (generous: a loaded machine)
    expect(attemptsSeen).toBe(1);
  });

  it('an AbortSignal mid-request (hanging server) rejects promptly too; an aborted signal rejects at once', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    const run = runHealthChecks([check({ name: 'hang', http: `${base}/hang?abort`, timeout: '10s' })], fast, { ...noTargets, signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    await expect(run).rejects.toBeInstanceOf(InterruptedError);
    expect(Date.now() - t0).toBeLessThan(5000); // not the 10 s timeout (generous: a loaded machine)
    await expect(runHealthChecks([check({ name: 'x', http: `${base}/healthy` })], fast, { ...noTargets, signal: ac.signal })).rejects.toBeInstanceOf(InterruptedError);
  });
});

describe('script checks (LocalTransport: a real sh)', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'ee-health-'));
    for (const h of ['a', 'b']) {
      mkdirSync(join(root, h, 'current dir'), { recursive: true });
    }
    writeFileSync(join(root, 'a', 'current dir', 'READY'), 'yes\n');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const target = (host: string): HealthTarget => ({ host, transport: new LocalTransport(host), cwd: join(root, host, 'current dir') });

  it('runs in the given cwd on every host; pass = exit 0, per-host results', async () => {
    const events: AttemptEvent[] = [];
    const r = await runHealthChecks([check({ name: 'worker', script: 'test -f READY && cat READY; exit_code=$?; [ "$(basename "$PWD")" = "current dir" ] && exit $exit_code', retries: 2 })], fast, {
      phase: 'post',
      targets: [target('a'), target('b')],
      onAttempt: (e) => events.push(e),
    });
    expect(r.ok).toBe(false);
    const by = Object.fromEntries(r.results.map((x) => [x.host!, x]));
    expect(by.a).toMatchObject({ name: 'worker', kind: 'script', host: 'a', ok: true });
    expect(by.a.attempts).toHaveLength(1);
    expect(by.a.attempts[0].detail).toBe('exit 0');
    expect(by.a.output).toBeUndefined();
    expect(by.b.ok).toBe(false);
    expect(by.b.attempts).toHaveLength(2);
    expect(by.b.error).toBe('exit 1');
    expect(events.filter((e) => e.host === 'b').map(formatAttempt)).toEqual(['worker [b]: attempt 1/2 failed (exit 1), retrying in 0.02s', 'worker [b]: attempt 2/2 failed (exit 1)']);
    expect(summarizeFailure(r)).toBe('health check "worker" failed on b after 2 attempts: exit 1');
  });

  it('a failure keeps the last 20 lines of combined output, redacted', async () => {
    registerSecret('hunter2-secret');
    // stdout and stderr are two pipes: the pause makes the order in which they are read certain
    const script = 'i=1; while [ $i -le 50 ]; do echo "line $i"; i=$((i+1)); done; sleep 0.2; echo "error: token hunter2-secret rejected" >&2; exit 3';
    const r = await runHealthChecks([check({ name: 'noisy', script, retries: 1 })], fast, { phase: 'post', targets: [target('a')] });
    const res = r.results[0];
    expect(res.ok).toBe(false);
    expect(res.error).toBe('exit 3');
    const lines = res.output!.split('\n');
    expect(lines).toHaveLength(20);
    expect(lines[0]).toBe('line 32');
    expect(lines[18]).toBe('line 50');
    expect(lines[19]).toBe('error: token *** rejected');
    expect(JSON.stringify(r)).not.toContain('hunter2-secret');
  });

  it('a script that hangs is stopped by the timeout', async () => {
    // the timeout includes starting `sh`: 1 s leaves room for that on a loaded machine, so the
    // output from before the kill is there; the 30 s sleep shows the kill was the timeout's
    const t0 = Date.now();
    const r = await runHealthChecks([check({ name: 'stuck', script: 'echo starting; sleep 30', timeout: '1s', retries: 1 })], fast, { phase: 'post', targets: [target('a')] });
    const res = r.results[0];
    expect(res.ok).toBe(false);
    expect(res.error).toBe('timed out after 1.00s');
    expect(res.output).toBe('starting');
    expect(res.attempts[0].durationMs).toBeGreaterThanOrEqual(990);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('a missing cwd fails instead of running the script elsewhere', async () => {
    const r = await runHealthChecks([check({ name: 'nocwd', script: 'true; true', retries: 1 })], fast, {
      phase: 'pre',
      targets: [{ host: 'a', transport: new LocalTransport('a'), cwd: join(root, 'does-not-exist') }],
    });
    expect(r.results).toHaveLength(0); // phase filter: the check is a post check
    const pre = await runHealthChecks([check({ name: 'nocwd', script: 'true; true', retries: 1, phase: 'pre' })], fast, {
      phase: 'pre',
      targets: [{ host: 'a', transport: new LocalTransport('a'), cwd: join(root, 'does-not-exist') }],
    });
    expect(pre.ok).toBe(false);
    expect(pre.results[0].error).toBe('exit 1');
    expect(pre.results[0].output).toMatch(/does-not-exist/);
  });
});
