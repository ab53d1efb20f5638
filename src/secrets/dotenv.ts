/**
 * `NAME=VALUE` lines as dotenv readers (dotenv, docker compose, systemd EnvironmentFile, `set -a;
 * . ./.env`) understand them: a plain value bare; one with spaces or shell characters in single
 * quotes (taken literally by all of them); one with a newline or a single quote in double
 * quotes with `\n`, `\r`, `\\`, `\"` and `\$` escaped. `parseDotenv` reads all three forms back
 * (used by `secrets edit`).
 */
import { SECRET_NAME } from './store.js';

const BARE = /^[A-Za-z0-9_./:@%+,=-]*$/;

export function dotenvValue(v: string): string {
  if (BARE.test(v)) return v;
  if (!/['\n\r]/.test(v)) return `'${v}'`;
  return `"${v.replace(/[\\"$\n\r]/g, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : `\\${c}`))}"`;
}

export function renderDotenv(values: Record<string, string>, names: string[] = Object.keys(values)): string {
  return names.map((n) => `${n}=${dotenvValue(values[n])}\n`).join('');
}

export class DotenvError extends Error {}

/** `NAME=VALUE` lines; blank lines and `#` comments skipped; a malformed line throws naming its number. */
export function parseDotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (!line.trim() || line.trimStart().startsWith('#')) return;
    const eq = line.indexOf('=');
    const name = (eq < 0 ? line : line.slice(0, eq)).trim().replace(/^export\s+/, '');
    if (eq < 0 || !SECRET_NAME.test(name)) throw new DotenvError(`line ${i + 1}: expected NAME=VALUE`);
    const rest = line.slice(eq + 1);
    let value: string;
    if (rest.startsWith("'")) {
      if (!rest.endsWith("'") || rest.length < 2) throw new DotenvError(`line ${i + 1}: unterminated '`);
      value = rest.slice(1, -1);
    } else if (rest.startsWith('"')) {
      if (!/(^|[^\\])(\\\\)*"$/.test(rest.slice(1)) || rest.length < 2) throw new DotenvError(`line ${i + 1}: unterminated "`);
      value = rest.slice(1, -1).replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c));
    } else value = rest;
    out[name] = value;
  });
  return out;
}
