/**
 * One attempt of an HTTP health check, requested from the deploying machine with undici.
 * The per-attempt timeout covers connect + headers + body. Redirects are not followed: a 3xx
 * counts as its status (it fails unless `expect.status` lists it).
 */
import { StringDecoder } from 'node:string_decoder';
import { Agent, request } from 'undici';
import type { HealthCheck } from '../config/schema.js';
import { describeNetworkError } from '../util/net-errors.js';
import { oneLine } from '../util/text.js';
import { formatSeconds } from './backoff.js';

/** at most this much of the body is read (and searched for `body_contains`) */
export const MAX_BODY_BYTES = 1 << 20;

export interface AttemptOutcome {
  ok: boolean;
  /** one line, e.g. `HTTP 500`, `timed out after 5.00s`, `connection refused` */
  detail: string;
  /** true when the caller's signal (not the timeout) ended the attempt */
  aborted?: boolean;
}

type HttpCheck = Pick<HealthCheck, 'http' | 'method' | 'headers' | 'expect' | 'insecure'>;

/** One dispatcher per check: no keep-alive (each attempt is a fresh connection), TLS verification unless `insecure`. */
export function createHttpAgent(check: Pick<HealthCheck, 'insecure'>, timeoutMs: number): Agent {
  return new Agent({
    pipelining: 0,
    // the attempt's own timer (httpAttempt) is what ends an attempt; these are only a backstop
    connect: { rejectUnauthorized: check.insecure !== true, timeout: timeoutMs + 1000 },
    headersTimeout: timeoutMs + 1000,
    bodyTimeout: timeoutMs + 1000,
  });
}

export function statusExpected(status: number, expected: number | number[] | undefined): boolean {
  if (expected === undefined) return status >= 200 && status <= 299;
  return Array.isArray(expected) ? expected.includes(status) : status === expected;
}

function expectedText(expected: number | number[] | undefined): string {
  if (expected === undefined) return '2xx';
  return Array.isArray(expected) ? expected.join(', ') : String(expected);
}

/** how much of a failed check's body its message shows */
export const BODY_SHOWN_BYTES = 200;

/** `; body: "db down"`: the first BODY_SHOWN_BYTES bytes, quoted on one line ('' for an empty body) */
export function bodyShown(body: Buffer): string {
  if (body.length === 0) return '';
  const cut = body.length > BODY_SHOWN_BYTES;
  // a character cut in half at the limit is dropped, not shown as U+FFFD
  const text = body.subarray(0, BODY_SHOWN_BYTES).toString('utf8').replace(/\uFFFD+$/, '');
  return `; body: ${JSON.stringify(text)}${cut ? ' (first 200 bytes)' : ''}`;
}

/** Run one attempt. Never throws: errors become a failed outcome (`aborted` when `signal` fired). */
export async function httpAttempt(check: HttpCheck, agent: Agent, timeoutMs: number, signal?: AbortSignal): Promise<AttemptOutcome> {
  const url = check.http!;
  const ctl = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ctl.abort(new Error(`timed out after ${formatSeconds(timeoutMs)}`));
  }, timeoutMs);
  const onAbort = (): void => ctl.abort(new Error('aborted'));
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  const expected = check.expect?.status;
  const needle = check.expect?.body_contains;
  try {
    const headers: Record<string, string> = { 'user-agent': 'ee-deploy health-check', ...(check.headers ?? {}) };
    const res = await request(url, {
      method: check.method ?? 'GET',
      headers,
      dispatcher: agent,
      signal: ctl.signal,
    });
    res.body.on('error', () => {}); // destroying it below (or on abort) must not surface as an uncaught error
    if (!statusExpected(res.statusCode, expected)) {
      // the start of the body usually says why (`db down`): read that much, within the same timeout
      let head = Buffer.alloc(0);
      for await (const chunk of res.body) {
        head = Buffer.concat([head, Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array)]);
        if (head.length >= BODY_SHOWN_BYTES) break;
      }
      res.body.destroy();
      const location = res.statusCode >= 300 && res.statusCode < 400 && typeof res.headers.location === 'string' ? ` -> ${oneLine(res.headers.location)}` : '';
      const want = expected === undefined ? '' : `, expected ${expectedText(expected)}`;
      return { ok: false, detail: `HTTP ${res.statusCode}${location}${want}${bodyShown(head)}` };
    }
    // Read the body (bounded) so the timeout covers it, searching for `body_contains` on the way.
    const decoder = new StringDecoder('utf8');
    let head = Buffer.alloc(0);
    let size = 0;
    let tail = '';
    let found = !needle;
    for await (const chunk of res.body) {
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      const take = Math.min(buf.length, MAX_BODY_BYTES - size);
      if (head.length < BODY_SHOWN_BYTES) head = Buffer.concat([head, buf.subarray(0, Math.min(take, BODY_SHOWN_BYTES - head.length))]);
      size += take;
      if (!found && needle) {
        const window = tail + decoder.write(take < buf.length ? buf.subarray(0, take) : buf);
        if (window.includes(needle)) found = true;
        tail = window.slice(Math.max(0, window.length - needle.length + 1));
      }
      if (size >= MAX_BODY_BYTES || (found && needle)) break; // leaving the loop destroys the body
    }
    if (!found && needle) found = (tail + decoder.end()).includes(needle);
    if (!found) return { ok: false, detail: `HTTP ${res.statusCode} but the body does not contain ${JSON.stringify(needle)}${bodyShown(head)}` };
    return { ok: true, detail: `HTTP ${res.statusCode}` };
  } catch (err) {
    if (signal?.aborted) return { ok: false, detail: 'aborted', aborted: true };
    if (timedOut) return { ok: false, detail: `timed out after ${formatSeconds(timeoutMs)}` };
    return { ok: false, detail: describeNetworkError(err).message };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}
