/**
 * Reads ee-deploy.yaml: YAML parse errors, unset `${VAR}`, and schema errors all become a
 * ConfigError pointing at `file:line:col`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { ConfigError, EeError } from '../errors.js';
import { interpolate, type SecretLookup } from './interpolate.js';
import { configSchema, type RawConfig } from './schema.js';
import { suggest } from './suggest.js';

export interface LoadedConfig {
  file: string;
  dir: string;
  raw: RawConfig;
  /** decrypted secrets-file values visible in the chosen environment (only when the config uses them) */
  secrets?: Record<string, string>;
}

export function readConfigText(file: string): { abs: string; text: string } {
  const abs = path.resolve(file);
  try {
    return { abs, text: readFileSync(abs, 'utf8') };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(code === 'ENOENT' ? `config file not found: ${abs} (run \`ee-deploy init\` to create one)` : `cannot read config ${abs}: ${code}`);
  }
}

export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const { abs, text } = readConfigText(file);
  return { file: abs, dir: path.dirname(abs), raw: parseConfigText(text, abs, env) };
}

export interface ParseOptions {
  /** `${secret:NAME}` values; without it every `${secret:...}` is an error */
  secret?: SecretLookup;
}

/**
 * Any input gives a RawConfig or a one-line ConfigError: never another exception (alias bombs,
 * parser stack overflows) and never a multi-line or runaway message (hostile keys and values).
 */
export function parseConfigText(text: string, file: string, env: NodeJS.ProcessEnv = process.env, opts: ParseOptions = {}): RawConfig {
  const interpolated: Interpolated = new Map();
  try {
    return parseConfigTextUnsafe(text, file, env, opts, interpolated);
  } catch (e) {
    const raw = e instanceof EeError ? e.message : `${file}: invalid YAML: ${(e as Error)?.message ?? String(e)}`;
    // before any clipping: a value cut short is no longer caught by the printer's redaction
    const msg = hideInterpolated(raw, interpolated);
    if (e instanceof ConfigError && msg === raw && !/[\r\n]/.test(msg) && msg.length <= MAX_MESSAGE) throw e;
    throw new ConfigError(clip(msg.replace(/\s*[\r\n]+\s*/g, ' '), MAX_MESSAGE));
  }
}

/** scalars whose text had `${VAR}` / `${secret:NAME}` filled in: their source text, and the values put in */
type Interpolated = Map<Node, { source: string; values: string[] }>;

/** shortest start of a value that is hidden when a message quotes it cut short */
const MIN_HIDDEN_PREFIX = 8;

/**
 * A config error never shows a value that came from the environment or the secrets file (any of
 * them may be a token): neither whole (also JSON-escaped) nor cut short, as messages quoting a
 * long value do.
 */
function hideInterpolated(message: string, interpolated: Interpolated): string {
  const forms = [...interpolated.values()]
    .flatMap((i) => i.values)
    .flatMap((v) => [v, JSON.stringify(v).slice(1, -1)])
    .filter((v) => v.length > 0 && !v.includes('\0'));
  let out = message;
  // the longest whole value or start of one first, again and again: replacing a shorter piece
  // first could break up a longer one (a value and its JSON-escaped form share their start)
  for (;;) {
    let best = '';
    for (const f of forms) {
      for (let k = f.length; k >= Math.min(f.length, MIN_HIDDEN_PREFIX) && k > best.length; k--) {
        if (out.includes(f.slice(0, k))) {
          best = f.slice(0, k);
          break;
        }
      }
    }
    // NUL while replacing (no value holds one), so a value like `*` cannot match its own mask
    if (!best) return out.replace(/\0/g, '***');
    out = out.split(best).join('\0');
  }
}

const MAX_MESSAGE = 400;

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}

function parseConfigTextUnsafe(text: string, file: string, env: NodeJS.ProcessEnv, opts: ParseOptions, interpolated: Interpolated): RawConfig {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const where = (offset: number | undefined) => {
    if (offset === undefined) return `${file}:1:1`;
    const { line, col } = lc.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  const err = doc.errors[0];
  if (err) {
    const msg = err.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw new ConfigError(`invalid YAML: ${msg}`, where(err.pos[0]));
  }
  if (doc.contents === null || !isMap(doc.contents)) {
    throw new ConfigError('the config must be a YAML mapping (key: value pairs)', where(doc.contents?.range?.[0]));
  }
  interpolateDocument(doc, env, where, opts.secret, interpolated);
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new ConfigError(`invalid YAML: ${(e as Error).message.replace(/indicates a resource exhaustion attack/, '(YAML aliases expand too much)')}`, where(0));
  }
  const result = configSchema.safeParse(data);
  if (result.success) return result.data;
  throw issueToError(result.error.issues[0], doc, where, interpolated);
}

function interpolateDocument(doc: Document, env: NodeJS.ProcessEnv, where: (o?: number) => string, secret: SecretLookup | undefined, interpolated: Interpolated): void {
  visit(doc, {
    Scalar(key, node) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('${')) return;
      const r = interpolate(node.value, env, secret);
      if (r.missingSecrets.length) {
        const n = r.missingSecrets[0];
        throw new ConfigError(`secret ${n} is not set (used as \${secret:${n}}; add it with \`ee-deploy secrets set ${n}\`)`, where(node.range?.[0]));
      }
      if (r.missing.length) {
        throw new ConfigError(`environment variable ${r.missing[0]} is not set (used as \${${r.missing[0]}}; write $\${${r.missing[0]}} for a literal)`, where(node.range?.[0]));
      }
      if (r.values.length) interpolated.set(node, { source: node.value, values: r.values });
      node.value = r.value;
    },
  });
}

type Issue = z.core.$ZodIssue;

function issueToError(issue: Issue, doc: Document, where: (o?: number) => string, interpolated: Interpolated): ConfigError {
  const p = issue.path.filter((k): k is string | number => typeof k !== 'symbol');
  const dotted = p.map((k) => (typeof k === 'number' ? `[${k}]` : /^[A-Za-z0-9_-]+$/.test(k) ? `.${k}` : `[${shortJson(k)}]`)).join('').replace(/^\./, '') || '(top level)';
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0];
    const parent = doc.getIn(p, true) as Node | undefined;
    let offset = parent?.range?.[0];
    if (parent && isMap(parent)) {
      const pair = parent.items.find((it) => isPair(it) && isScalar(it.key) && it.key.value === key);
      if (pair && isScalar(pair.key)) offset = pair.key.range?.[0];
    }
    const hint = suggest(key, allowedKeys(p));
    const at = p.length ? ` in ${dotted}` : '';
    return new ConfigError(`unknown key ${shortJson(key)}${at}${hint ? ` (did you mean "${hint}"?)` : ''}`, where(offset));
  }
  const node = nearestNode(doc, p);
  let message = issue.message;
  if (issue.code === 'invalid_type') {
    // a filled-in value is named by its source text (`${TOKEN}`), never shown
    const from = interpolated.get(doc.getIn(p, true) as Node);
    const got = from ? `${typeof doc.getIn(p)} from ${shortJson(from.source)}` : describeValue(doc.getIn(p));
    message = !doc.hasIn(p) ? `missing required key` : `expected ${issue.expected}, got ${got}`;
  } else if (issue.code === 'invalid_key') {
    message = `invalid name: ${issue.issues[0]?.message ?? issue.message}`;
  } else if (issue.code === 'invalid_value' && 'values' in issue) {
    message = `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  } else if (issue.code === 'too_small' && issue.origin === 'array') {
    message = issue.message.startsWith('Too small') ? `needs at least ${issue.minimum} item(s)` : issue.message;
  } else if (issue.code === 'too_small' || issue.code === 'too_big') {
    if (issue.message.startsWith('Too')) message = `must be ${issue.code === 'too_small' ? '>=' : '<='} ${issue.code === 'too_small' ? issue.minimum : issue.maximum}`;
  }
  return new ConfigError(`${dotted}: ${message}`, where(node?.range?.[0]));
}

function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Uint8Array) return 'binary data';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'number' && !Number.isFinite(v)) return `number ${v}`;
  return `${typeof v} ${shortJson(v)}`;
}

/** JSON for a message: one line, at most 60 characters */
function shortJson(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 56)}..."` : s;
}

function nearestNode(doc: Document, p: (string | number)[]): Node | undefined {
  for (let n = p.length; n >= 0; n--) {
    const node = doc.getIn(p.slice(0, n), true) as Node | undefined;
    if (node && (isScalar(node) || isMap(node) || isSeq(node))) {
      // point at the key of a missing child rather than the whole parent map
      return node;
    }
  }
  return undefined;
}

/** keys the schema allows at a path, for suggestions */
function allowedKeys(p: (string | number)[]): string[] {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let s: any = configSchema;
  const unwrap = () => {
    for (let i = 0; i < 10 && s; i++) {
      const d = s._zod?.def;
      if (!d) return;
      if (d.type === 'optional' || d.type === 'default' || d.type === 'nullable' || d.type === 'prefault') s = d.innerType;
      else if (d.type === 'pipe') s = d.in;
      else if (d.type === 'union') s = d.options.find((o: any) => o._zod?.def?.type === 'object') ?? d.options[0];
      else return;
    }
  };
  unwrap();
  for (const k of p) {
    const d = s?._zod?.def;
    if (!d) return [];
    if (d.type === 'object') s = d.shape[k as string];
    else if (d.type === 'array') s = d.element;
    else if (d.type === 'record') s = d.valueType;
    else return [];
    unwrap();
  }
  const d = s?._zod?.def;
  return d?.type === 'object' ? Object.keys(d.shape) : [];
}
