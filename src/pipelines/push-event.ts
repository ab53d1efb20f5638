/**
 * Push events from GitHub and GitLab webhooks: which service sent a request (by its headers),
 * whether it is authentic, and what it says (branch, commit, delivery id). Pure: no I/O.
 *
 * GitHub signs the raw body: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`.
 * GitLab sends the shared secret itself in `X-Gitlab-Token`. Both are compared in constant time
 * (the token through a SHA-256 of each side, so different lengths leak nothing either).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export type PushSource = 'github' | 'gitlab';

export type Headers = Record<string, string | string[] | undefined>;

function header(h: Headers, name: string): string | undefined {
  const v = h[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** Which service sent the request; undefined when it carries neither service's headers. */
export function detectSource(h: Headers): PushSource | undefined {
  if (header(h, 'x-github-event') !== undefined || header(h, 'x-hub-signature-256') !== undefined) return 'github';
  if (header(h, 'x-gitlab-event') !== undefined || header(h, 'x-gitlab-token') !== undefined) return 'gitlab';
  return undefined;
}

export type AuthResult = { ok: true } | { ok: false; reason: string };

/** Authenticates a request: the signature (GitHub) or token (GitLab) must match `secret`. */
export function authenticate(source: PushSource, h: Headers, body: Buffer, secret: string): AuthResult {
  if (source === 'github') {
    const sig = header(h, 'x-hub-signature-256');
    if (!sig) return { ok: false, reason: 'missing X-Hub-Signature-256' };
    const m = /^sha256=([0-9a-fA-F]{64})$/.exec(sig.trim());
    if (!m) return { ok: false, reason: 'malformed X-Hub-Signature-256' };
    const expected = createHmac('sha256', secret).update(body).digest();
    const given = Buffer.from(m[1], 'hex');
    return timingSafeEqual(expected, given) ? { ok: true } : { ok: false, reason: 'wrong X-Hub-Signature-256' };
  }
  const token = header(h, 'x-gitlab-token');
  if (token === undefined) return { ok: false, reason: 'missing X-Gitlab-Token' };
  const a = createHash('sha256').update(token).digest();
  const b = createHash('sha256').update(secret).digest();
  return timingSafeEqual(a, b) ? { ok: true } : { ok: false, reason: 'wrong X-Gitlab-Token' };
}

export function signGithub(secret: string, body: Buffer | string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export type ParsedEvent =
  | { kind: 'push'; branch?: string; ref: string; sha?: string; deleted: boolean }
  | { kind: 'ping' }
  | { kind: 'other'; name: string };

/**
 * What an authenticated request says. GitHub may post its payload as JSON or as a form
 * (`payload=<json>`); both are accepted. Throws on a body that is not a valid event.
 */
export function parseEvent(source: PushSource, h: Headers, body: Buffer): ParsedEvent {
  const name = source === 'github' ? (header(h, 'x-github-event') ?? '') : (header(h, 'x-gitlab-event') ?? '');
  if (source === 'github' && name === 'ping') return { kind: 'ping' };
  const isPush = source === 'github' ? name === 'push' : name === 'Push Hook';
  if (!isPush) return { kind: 'other', name: name || '(no event header)' };
  const payload = decodeBody(h, body);
  const ref = typeof payload.ref === 'string' ? payload.ref : undefined;
  if (!ref) throw new Error('push event without "ref"');
  const after = typeof payload.after === 'string' && /^[0-9a-f]{40,64}$/.test(payload.after) ? payload.after : undefined;
  const zero = after !== undefined && /^0+$/.test(after);
  return {
    kind: 'push',
    ref,
    branch: ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : undefined,
    sha: zero ? undefined : after,
    deleted: payload.deleted === true || zero,
  };
}

function decodeBody(h: Headers, body: Buffer): Record<string, unknown> {
  const type = (header(h, 'content-type') ?? '').split(';')[0].trim().toLowerCase();
  let text = body.toString('utf8');
  if (type === 'application/x-www-form-urlencoded') {
    const p = new URLSearchParams(text).get('payload');
    if (p === null) throw new Error('form body without "payload"');
    text = p;
  }
  const v: unknown = JSON.parse(text);
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('payload is not a JSON object');
  return v as Record<string, unknown>;
}

/**
 * The id that stays the same when a delivery is sent again: GitHub's X-GitHub-Delivery
 * (redeliveries keep it), GitLab's Idempotency-Key (retries keep it; older GitLab: none).
 */
export function deliveryId(source: PushSource, h: Headers): string | undefined {
  const v = source === 'github' ? header(h, 'x-github-delivery') : (header(h, 'idempotency-key') ?? header(h, 'x-gitlab-event-uuid'));
  return v && v.length <= 200 ? v : undefined;
}
