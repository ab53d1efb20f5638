/**
 * The one place a network error (socket, DNS, undici, TLS) becomes a one-line message, for SSH
 * connections, health checks and notifications alike. Callers add their context (the host, a
 * hint such as "is sshd running on that port?").
 */
import { oneLine } from './text.js';

export interface NetworkErrorText {
  /** one line, e.g. `connection refused`, `TLS error: self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT)` */
  message: string;
  /** the error code it was recognised by, if any */
  code?: string;
  /** a refused/reset connection or a DNS failure may pass; a timeout or a TLS problem will not */
  retryable: boolean;
}

const KNOWN: Record<string, { message: string; retryable: boolean }> = {
  ECONNREFUSED: { message: 'connection refused', retryable: true },
  ECONNRESET: { message: 'connection reset by the remote host', retryable: true },
  EPIPE: { message: 'connection closed by the remote host', retryable: true },
  UND_ERR_SOCKET: { message: 'connection closed by the remote host', retryable: true },
  ENOTFOUND: { message: 'host not found', retryable: true },
  EAI_NONAME: { message: 'host not found', retryable: true },
  EAI_AGAIN: { message: 'DNS lookup failed', retryable: true },
  EHOSTUNREACH: { message: 'host unreachable', retryable: true },
  ENETUNREACH: { message: 'network unreachable', retryable: true },
  ETIMEDOUT: { message: 'connection timed out', retryable: false },
  UND_ERR_CONNECT_TIMEOUT: { message: 'connection timed out', retryable: false },
  UND_ERR_HEADERS_TIMEOUT: { message: 'timed out waiting for the response headers', retryable: false },
  UND_ERR_BODY_TIMEOUT: { message: 'timed out reading the response body', retryable: false },
};

const TLS_CODE = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|HOSTNAME|ALTNAME/;

/** A known error code named in a library's message text (nodemailer puts the socket's code there). */
export function codeInMessage(text: string): string | undefined {
  for (const m of text.matchAll(/\b(E[A-Z_]+|UND_ERR_[A-Z_]+)\b/g)) if (KNOWN[m[1]]) return m[1];
  return undefined;
}

/**
 * Describes `err`, looking through the `cause` chain that undici and fetch wrap socket errors in.
 * With `host`, name-resolution failures name it: `host name "db1" not found`.
 */
export function describeNetworkError(err: unknown, o: { host?: string } = {}): NetworkErrorText {
  let e: unknown = err;
  for (let depth = 0; depth < 3 && e instanceof Error; depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code && KNOWN[code]) {
      const known = KNOWN[code];
      if (o.host && (code === 'ENOTFOUND' || code === 'EAI_NONAME')) return { message: `host name "${o.host}" not found`, code, retryable: known.retryable };
      if (o.host && code === 'EAI_AGAIN') return { message: `DNS lookup of "${o.host}" failed`, code, retryable: known.retryable };
      return { ...known, code };
    }
    if (code && TLS_CODE.test(code)) return { message: `TLS error: ${oneLine(e.message)} (${code})`, code, retryable: false };
    if (e.cause === undefined) break;
    e = e.cause;
  }
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return { message: code ? `${oneLine(err.message)} (${code})` : oneLine(err.message), ...(code ? { code } : {}), retryable: true };
  }
  // a bare { code } (e.g. a code found in a library's message text)
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && KNOWN[code]) return { ...KNOWN[code], code };
  return { message: oneLine(String(err)), retryable: true };
}
