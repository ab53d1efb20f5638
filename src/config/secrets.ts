/**
 * Values that came from `${VAR}` are secrets (SPEC section 3). Every text that leaves the process
 * (terminal, --json, history, revisions.log, notifications, error messages) goes through
 * `redact`, which replaces each known secret value with `***` — even when a hook echoes it.
 */
const secrets = new Set<string>();
/** Very short values would redact ordinary words; they are still never printed on purpose. */
const MIN_SECRET_LENGTH = 3;

export function registerSecret(value: string): void {
  if (value.length >= MIN_SECRET_LENGTH) secrets.add(value);
}

export function clearSecrets(): void {
  secrets.clear();
}

export function redact(text: string): string {
  if (secrets.size === 0 || !text) return text;
  let out = text;
  // longest first so a secret that contains another is replaced whole
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) {
    if (out.includes(s)) out = out.split(s).join('***');
  }
  return out;
}

/** Deep-redact any JSON-able value. */
export function redactDeep<T>(value: T): T {
  if (typeof value === 'string') return redact(value) as T;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v)) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = redactDeep(v);
    return out as T;
  }
  return value;
}
