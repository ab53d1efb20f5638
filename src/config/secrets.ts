/**
 * Values that came from `${VAR}` in the config are secrets. Every text that leaves the process
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

/**
 * Redacts a stream whose chunks may split a secret (SSH delivers output in arbitrary pieces):
 * emits complete lines only, and holds back a tail that could still be the start of a secret
 * until the next chunk or `flush` decides it.
 */
export class StreamRedactor {
  private pending = '';
  constructor(private readonly emit: (text: string) => void) {}

  write(chunk: string): void {
    this.pending = redact(this.pending + chunk);
    const holdFrom = this.pending.length - partialSecretSuffix(this.pending);
    const cut = this.pending.lastIndexOf('\n', holdFrom - 1);
    if (cut < 0 || holdFrom === 0) return;
    this.emit(this.pending.slice(0, cut));
    this.pending = this.pending.slice(cut + 1);
  }

  /** the end of the stream: whatever is held is complete now */
  flush(): void {
    if (!this.pending) return;
    const rest = redact(this.pending);
    this.pending = '';
    this.emit(rest.replace(/\n$/, ''));
  }
}

/** length of the longest suffix of `text` that is the beginning (not the whole) of a secret */
function partialSecretSuffix(text: string): number {
  let best = 0;
  for (const s of secrets) {
    for (let k = Math.min(s.length - 1, text.length); k > best; k--) {
      if (text.endsWith(s.slice(0, k))) {
        best = k;
        break;
      }
    }
  }
  return best;
}
