/**
 * HTTP helpers of the API channels (PagerDuty, Twilio, Jira...): where a request goes when
 * `api_url` is set, several requests sent as one idempotent unit, and a request whose JSON answer
 * is needed (tokens, ids). Status handling is the one of `sendJson`: 2xx ok, 5xx and network errors
 * retried by the engine, anything else final.
 */
import { request } from 'undici';
import { describeNetworkError, sendJson, USER_AGENT, type AttemptContext, type AttemptOutcome } from './attempt.js';

/**
 * `base` + `path`, where `apiUrl` (when set) replaces the scheme, host and port of the service;
 * the documented path is appended unchanged.
 */
export function serviceUrl(base: string, path: string, apiUrl?: string): string {
  return `${(apiUrl ?? base).replace(/\/+$/, '')}${path}`;
}

/** A webhook URL whose scheme, host and port `apiUrl` replaces (path and query kept). */
export function rebaseUrl(url: string, apiUrl?: string): string {
  if (!apiUrl) return url;
  const u = new URL(url);
  return serviceUrl(apiUrl, u.pathname + u.search);
}

export interface HttpPart {
  /** what this request is, for an error text (`change event`, `+15551234567`) */
  label: string;
  url: string;
  body: string;
  headers?: Record<string, string>;
}

/** What the attempts of one channel have delivered so far (kept by the caller across retries). */
export interface PartsState {
  done: Set<number>;
  /** parts that failed in a way a retry cannot fix (a 4xx): reported, not sent again */
  final: Map<number, string>;
}

export const newPartsState = (): PartsState => ({ done: new Set(), final: new Map() });

/**
 * Sends every part (in order; one failing does not stop the others). Delivered parts are recorded
 * in `state`, so a retry after a 5xx sends only what did not arrive: nobody gets a second SMS or a
 * duplicate change event. The outcome is retryable when a failed part is.
 */
export async function sendParts(parts: HttpPart[], state: PartsState, ctx: AttemptContext): Promise<AttemptOutcome> {
  const failed: { i: number; error: string; retryable: boolean }[] = [];
  for (let i = 0; i < parts.length; i++) {
    if (state.done.has(i) || state.final.has(i)) continue;
    if (ctx.signal.aborted) break;
    const p = parts[i];
    const r = await sendJson(p.url, p.body, ctx, { headers: p.headers });
    if (r.ok) state.done.add(i);
    else {
      failed.push({ i, error: r.error, retryable: r.retryable });
      if (!r.retryable) state.final.set(i, r.error);
    }
  }
  if (state.done.size === parts.length) return { ok: true };
  const errors = new Map<number, string>(state.final);
  for (const f of failed) errors.set(f.i, f.error);
  if (!errors.size) return { ok: false, error: 'aborted', retryable: false };
  const error = parts.length > 1 ? [...errors].sort((a, b) => a[0] - b[0]).map(([i, e]) => `${parts[i].label}: ${e}`).join('; ') : [...errors.values()][0];
  return { ok: false, error, retryable: failed.some((f) => f.retryable) };
}

export type JsonOutcome = { ok: true; json: unknown } | { ok: false; error: string; retryable: boolean };

/** A request whose JSON answer is needed (an OAuth token, a cloud id). */
export async function requestJson(url: string, ctx: AttemptContext, o: { method?: 'GET' | 'POST'; body?: string; headers?: Record<string, string> } = {}): Promise<JsonOutcome> {
  const headers: Record<string, string> = { accept: 'application/json', 'user-agent': USER_AGENT };
  if (o.body !== undefined) headers['content-type'] = 'application/json; charset=utf-8';
  for (const [k, v] of Object.entries(o.headers ?? {})) headers[k.toLowerCase()] = v;
  try {
    const res = await request(url, {
      method: o.method ?? 'GET',
      headers,
      body: o.body,
      signal: ctx.signal,
      dispatcher: ctx.dispatcher,
      headersTimeout: ctx.timeoutMs,
      bodyTimeout: ctx.timeoutMs,
    });
    const text = await res.body.text().catch(() => '');
    if (res.statusCode < 200 || res.statusCode >= 300) {
      // the body of an auth failure can echo what was sent: only the status is reported
      return { ok: false, error: `HTTP ${res.statusCode}`, retryable: res.statusCode >= 500 };
    }
    try {
      return { ok: true, json: JSON.parse(text) as unknown };
    } catch {
      return { ok: false, error: `HTTP ${res.statusCode} with a body that is not JSON`, retryable: false };
    }
  } catch (e) {
    return { ok: false, ...describeNetworkError(e) };
  }
}
