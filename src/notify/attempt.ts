/**
 * How every channel is attempted and retried (over the retry engine, util/retry.ts), and the HTTP
 * POST the webhook channels use.
 *
 * Time budget per channel (documented in the README): each attempt gets at most
 * `notifications.timeout`; a 5xx response or a network error (refused, reset, DNS) is retried
 * twice after 200 ms and 400 ms; a 4xx response, a TLS/auth problem or a timeout is not retried.
 * All attempts of a channel share one deadline of `timeout + 600 ms`, so a dead channel never
 * adds more than that to a run. Nothing here throws: failures come back as data.
 */
import { Agent, request } from 'undici';
import { formatDuration } from '../config/duration.js';
import { redact } from '../config/secrets.js';
import type { ChannelResult } from './event.js';
import { describeNetworkError as describeNetError } from '../util/net-errors.js';
import { retry } from '../util/retry.js';

export const RETRY_BACKOFF_MS = [200, 400] as const;
/** below this much remaining budget a retry is not worth starting */
const MIN_ATTEMPT_MS = 50;

export type AttemptOutcome = { ok: true } | { ok: false; error: string; retryable: boolean };

export interface AttemptContext {
  /** aborts when this attempt's time is up or the caller's signal fires */
  signal: AbortSignal;
  /** this attempt's timeout in ms */
  timeoutMs: number;
  /** the HTTP connection pool of this sendNotifications call */
  dispatcher: Agent;
}

export interface RunChannelOptions {
  channel: string;
  timeoutMs: number;
  signal?: AbortSignal;
  dispatcher: Agent;
  /** strings that must never appear in an error (webhook URLs, their paths, bot tokens) */
  scrub: string[];
  attempt: (ctx: AttemptContext) => Promise<AttemptOutcome>;
}

/** Removes secrets, and this channel's URL/token parts, from a text; keeps it on one line. */
export function cleanError(text: string, scrub: string[]): string {
  let out = redact(text);
  for (const s of [...scrub].filter((x) => x && x.length >= 4).sort((a, b) => b.length - a.length)) {
    out = out.split(s).join('***');
  }
  out = out.replace(/\s+/g, ' ').trim();
  return out.length > 300 ? `${out.slice(0, 299)}…` : out;
}


export async function runChannel(o: RunChannelOptions): Promise<ChannelResult> {
  const start = performance.now();
  const deadline = start + o.timeoutMs + RETRY_BACKOFF_MS.reduce((a, b) => a + b, 0);
  const result = (ok: boolean, attempts: number, error?: string): ChannelResult => ({
    channel: o.channel,
    ok,
    attempts,
    durationMs: Math.round(performance.now() - start),
    ...(error !== undefined ? { error: cleanError(error, o.scrub) } : {}),
  });
  const run = await retry<AttemptOutcome>({
    delays: RETRY_BACKOFF_MS,
    signal: o.signal,
    worthAnother: () => deadline - performance.now() >= MIN_ATTEMPT_MS,
    attempt: () => attemptOnce(o, Math.max(1, Math.min(o.timeoutMs, Math.round(deadline - performance.now())))),
    final: (outcome) => outcome.ok || !outcome.retryable,
  });
  const last = run.last;
  if (last?.ok) return result(true, run.attempts);
  // an abort never throws here: the channel reports it like any other failure (an attempt the
  // abort ended says `aborted` itself; one that failed on its own is named)
  if (run.aborted && (!last || last.retryable)) return result(false, run.attempts, last ? `aborted (last error: ${last.error})` : 'aborted');
  return result(false, run.attempts, last ? last.error : 'not sent');
}

/** One attempt with its own timeout, also ended by the caller's signal. Never throws. */
async function attemptOnce(o: RunChannelOptions, timeoutMs: number): Promise<AttemptOutcome> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Error('timeout')), timeoutMs);
  const onAbort = () => ac.abort(new Error('aborted'));
  o.signal?.addEventListener('abort', onAbort, { once: true });
  let outcome: AttemptOutcome;
  try {
    outcome = await o.attempt({ signal: ac.signal, timeoutMs, dispatcher: o.dispatcher });
  } catch (e) {
    outcome = { ok: false, error: e instanceof Error ? e.message : String(e), retryable: false };
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', onAbort);
  }
  if (!outcome.ok && ac.signal.aborted) {
    return o.signal?.aborted ? { ok: false, error: 'aborted', retryable: false } : { ok: false, error: `timed out after ${formatDuration(timeoutMs)}`, retryable: false };
  }
  return outcome;
}

/** A thrown network error as an attempt's failure: util/net-errors.ts's text, and whether to retry. */
export function describeNetworkError(e: unknown): { error: string; retryable: boolean } {
  const d = describeNetError(e);
  return { error: d.message, retryable: d.retryable };
}

/** A short human-readable reason from an error response body (JSON `description`/`message`/`error`, or short text). */
function bodySnippet(body: string): string | undefined {
  const t = body.trim();
  if (!t || t.startsWith('<')) return undefined;
  try {
    const j = JSON.parse(t) as Record<string, unknown>;
    for (const k of ['description', 'message', 'error']) if (typeof j[k] === 'string' && j[k]) return j[k] as string;
    return undefined;
  } catch {
    return t.length <= 120 ? t : undefined;
  }
}

export const USER_AGENT = 'ee-deploy';

/** POSTs (or PUTs) a JSON body: 2xx = ok, 5xx = retryable, anything else = final failure. */
export async function sendJson(
  url: string,
  body: string,
  ctx: AttemptContext,
  opts: { method?: 'POST' | 'PUT'; headers?: Record<string, string> } = {},
): Promise<AttemptOutcome> {
  // header names are case-insensitive: configured headers override the defaults whatever their case
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', 'user-agent': USER_AGENT };
  for (const [k, v] of Object.entries(opts.headers ?? {})) headers[k.toLowerCase()] = v;
  try {
    const res = await request(url, {
      method: opts.method ?? 'POST',
      headers,
      body,
      signal: ctx.signal,
      dispatcher: ctx.dispatcher,
      headersTimeout: ctx.timeoutMs,
      bodyTimeout: ctx.timeoutMs,
    });
    let text = '';
    try {
      text = (await res.body.text()).slice(0, 4000);
    } catch {
      /* the status is what matters */
    }
    if (res.statusCode >= 200 && res.statusCode < 300) return { ok: true };
    const snippet = bodySnippet(text);
    return { ok: false, error: `HTTP ${res.statusCode}${snippet ? ` (${snippet})` : ''}`, retryable: res.statusCode >= 500 };
  } catch (e) {
    return { ok: false, ...describeNetworkError(e) };
  }
}

/** The URL parts that can hold a secret (Slack/Discord put the token in the path). */
export function urlSecrets(url: string): string[] {
  try {
    const u = new URL(url);
    const out = [url, u.pathname + u.search, u.search, u.password, u.username];
    // long path segments that are not plain words: webhook ids and tokens
    for (const seg of u.pathname.split('/')) if (seg.length >= 8 && !/^[a-z_-]+$/.test(seg)) out.push(seg);
    return out.filter(Boolean);
  } catch {
    return [url];
  }
}
