/**
 * The retry engine shared by every channel, and the HTTP POST the webhook channels use.
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
import { sleep } from '../util/sleep.js';

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
  let attempts = 0;
  let last: AttemptOutcome = { ok: false, error: 'not sent', retryable: false };
  for (let i = 0; i <= RETRY_BACKOFF_MS.length; i++) {
    if (i > 0) {
      await sleep(RETRY_BACKOFF_MS[i - 1], o.signal);
      if (deadline - performance.now() < MIN_ATTEMPT_MS) break;
    }
    if (o.signal?.aborted) return result(false, attempts, attempts ? `aborted (last error: ${(last as { error: string }).error})` : 'aborted');
    const timeoutMs = Math.max(1, Math.min(o.timeoutMs, Math.round(deadline - performance.now())));
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(new Error('timeout')), timeoutMs);
    const onAbort = () => ac.abort(new Error('aborted'));
    o.signal?.addEventListener('abort', onAbort, { once: true });
    attempts++;
    try {
      last = await o.attempt({ signal: ac.signal, timeoutMs, dispatcher: o.dispatcher });
    } catch (e) {
      last = { ok: false, error: e instanceof Error ? e.message : String(e), retryable: false };
    } finally {
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
    }
    if (!last.ok && ac.signal.aborted) {
      last = o.signal?.aborted ? { ok: false, error: 'aborted', retryable: false } : { ok: false, error: `timed out after ${formatDuration(timeoutMs)}`, retryable: false };
    }
    if (last.ok) return result(true, attempts);
    if (!last.retryable) break;
  }
  return result(false, attempts, last.ok ? undefined : last.error);
}

/** Maps a thrown network error to a short text and whether it is worth retrying. */
export function describeNetworkError(e: unknown): { error: string; retryable: boolean } {
  const err = e as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = err?.code && err.code !== 'UND_ERR' ? err.code : err?.cause?.code ?? err?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return { error: 'connection refused', retryable: true };
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
      return { error: 'connection closed by the server', retryable: true };
    case 'ENOTFOUND':
      return { error: 'host not found', retryable: true };
    case 'EAI_AGAIN':
      return { error: 'DNS lookup failed', retryable: true };
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return { error: 'host unreachable', retryable: true };
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return { error: 'connect timed out', retryable: false };
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return { error: 'timed out waiting for the response', retryable: false };
  }
  if (code && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL/.test(code)) return { error: `TLS error (${code})`, retryable: false };
  const msg = err?.cause?.message ?? err?.message ?? String(e);
  return { error: code ? `${code}: ${msg}` : msg, retryable: true };
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
