/**
 * ssh_config(5) files evaluated for one host the way OpenSSH's readconf.c does it: lines are read
 * in order (the user's file, then the system-wide one), `Host` and `Match` decide which lines
 * apply, `Include` reads files where it stands (only when its block applies), and for each keyword
 * the first value obtained wins (list keywords such as IdentityFile collect every value).
 *
 * - `Host` patterns: `*`/`?` wildcards, case-sensitive, a matching `!pattern` vetoes the line;
 *   `Match host`/`originalhost` compare case-insensitively, `Match user`/`localuser` exactly
 * - `Match`: all, host, originalhost, user, localuser, tagged, exec (runs through the shell,
 *   exit 0 = match), canonical and final (true on the final pass, which `Match final` asks for;
 *   that pass matches `Host` lines against the host name found by the first);
 *   each criterion may be negated with `!`; the criteria of a line must all hold
 * - `Include`: `~` and globs anywhere in the path; relative paths are relative to `~/.ssh` (user
 *   file) or `/etc/ssh` (system file)
 * - `Keyword value`, `Keyword=value`, double/single quotes, `#` comments
 *
 * Keyword meanings live in ssh-keywords.ts; this file knows only the grammar and the matching.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../errors.js';
import { isListKeyword, keywordInfo } from './ssh-keywords.js';

/** One value obtained for a keyword, and where it came from (for messages). */
export interface Obtained {
  args: string[];
  /** the raw text after the keyword (commands keep their own quoting) */
  raw: string;
  file: string;
  line: number;
  /** from the system-wide file (or a file it included) rather than the user's */
  system: boolean;
  /** order in which values were obtained (ProxyCommand vs ProxyJump: the first one wins) */
  seq: number;
}

export interface ConfigFileInput {
  /** display name -> text; read in order */
  files: { name: string; text: string; baseDir: string; system: boolean }[];
  home: string;
}

export interface MatchContext {
  /** the name ssh was asked for (`ssh <name>`) */
  originalHost: string;
  localUser: string;
  /** user given outside ssh config (ee-deploy.yaml `user`): wins over `User` */
  user?: string;
  /** runs a `Match exec` command (tokens already expanded); true when it exits 0 */
  exec: (command: string) => boolean;
  /** expands `%` tokens in a `Match exec` command with what is known so far */
  expand: (command: string, sofar: Options, at: string) => string;
}

/** Keyword (lower-cased) -> values obtained; single keywords hold exactly one. */
export type Options = Map<string, Obtained[]>;

const MAX_INCLUDE_DEPTH = 16;

/** OpenSSH `match_pattern`: `*` any run, `?` any one character, whole string. */
export function wildcardMatch(name: string, pattern: string): boolean {
  let re = '^';
  for (const ch of pattern) {
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`${re}$`, 's').test(name);
}

/**
 * `Host a b !c`: true when some pattern matches and no negated one does. Case-sensitive, against
 * the name as given (`ssh WEB1` does not match `Host web*`), unlike `Match host`.
 */
export function hostLineMatches(host: string, patterns: string[]): boolean {
  let matched = false;
  for (const p0 of patterns) {
    const negated = p0.startsWith('!');
    const p = negated ? p0.slice(1) : p0;
    if (!wildcardMatch(host, p)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

/** OpenSSH `match_pattern_list` on a comma list: 1 match, -1 negated match, 0 none. */
export function patternListMatch(value: string, list: string, ignoreCase: boolean): 1 | 0 | -1 {
  const v = ignoreCase ? value.toLowerCase() : value;
  let got: 1 | 0 = 0;
  for (const p0 of list.split(',')) {
    if (!p0) continue;
    const negated = p0.startsWith('!');
    const p0b = negated ? p0.slice(1) : p0;
    const p = ignoreCase ? p0b.toLowerCase() : p0b;
    if (!wildcardMatch(v, p)) continue;
    if (negated) return -1;
    got = 1;
  }
  return got;
}

/** Split arguments like OpenSSH's argv_split: whitespace, "double" or 'single' quotes, `\` escapes, `#` ends the line. */
export function splitArgs(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i])) i++;
    if (i >= text.length || text[i] === '#') break;
    let arg = '';
    let quote: string | undefined;
    for (; i < text.length; i++) {
      const ch = text[i];
      if (quote) {
        if (ch === quote) quote = undefined;
        else if (ch === '\\' && (text[i + 1] === quote || text[i + 1] === '\\')) arg += text[++i];
        else arg += ch;
      } else if (ch === '"' || ch === "'") quote = ch;
      else if (/\s/.test(ch)) break;
      else if (ch === '\\' && i + 1 < text.length && /[\s"'\\]/.test(text[i + 1])) arg += text[++i];
      else arg += ch;
    }
    if (quote) throw new Error('unterminated quote');
    out.push(arg);
  }
  return out;
}

/** `Keyword value`, `Keyword=value`, `Keyword = value`: the keyword and the text after it. */
export function splitLine(line: string): { keyword: string; raw: string } | undefined {
  const t = line.trim();
  if (!t || t.startsWith('#')) return undefined;
  const m = /^([^\s=]+)(?:\s*=\s*|\s+|$)(.*)$/s.exec(t);
  if (!m) return undefined;
  return { keyword: m[1], raw: m[2].trim() };
}

/** Expand `~` and glob characters in every path component; sorted like glob(3). */
export function globPaths(pattern: string): string[] {
  const parts = pattern.split('/');
  let bases = [parts[0] === '' ? '/' : parts[0]];
  for (const part of parts.slice(1)) {
    if (!part) continue;
    const next: string[] = [];
    for (const base of bases) {
      if (!/[*?[]/.test(part)) {
        next.push(path.join(base, part));
        continue;
      }
      let names: string[];
      try {
        names = readdirSync(base);
      } catch {
        continue;
      }
      const re = new RegExp(`^${part.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
      for (const n of names.sort()) if (re.test(n) && (!n.startsWith('.') || part.startsWith('.'))) next.push(path.join(base, n));
    }
    bases = next;
  }
  return bases;
}

interface Walk {
  ctx: MatchContext;
  opts: Options;
  finalPass: boolean;
  wantFinal: boolean;
  home: string;
  seq: number;
  /** what `Host` lines match: the name as given, then on the final pass the host name found */
  hostLineName: string;
}

function where(file: string, line: number): string {
  return `${file}:${line}`;
}

function obtain(w: Walk, keyword: string, o: Obtained): void {
  const have = w.opts.get(keyword);
  if (!isListKeyword(keyword)) {
    if (!have) w.opts.set(keyword, [o]);
    return;
  }
  const list = have ?? [];
  // a second pass (Match final) meets the same lines again: one entry per value
  if (!list.some((x) => x.raw === o.raw)) list.push(o);
  w.opts.set(keyword, list);
}

function first(w: Walk, keyword: string): string | undefined {
  return w.opts.get(keyword)?.[0]?.args[0];
}

/** The host `Match host` compares: HostName so far (with %h), else the name asked for. */
function matchHost(w: Walk): string {
  const hn = first(w, 'hostname');
  return (hn ? hn.replace(/%(%|h)/g, (_m, t: string) => (t === 'h' ? w.ctx.originalHost : '%')) : w.ctx.originalHost).toLowerCase();
}

function evalMatch(w: Walk, args: string[], at: string): boolean {
  if (args.length === 0) throw new ConfigError('Match needs criteria (e.g. `Match host web*`)', at);
  let result = true;
  for (let i = 0; i < args.length; i++) {
    const word = args[i];
    const negate = word.startsWith('!');
    const crit = (negate ? word.slice(1) : word).toLowerCase();
    if (crit === 'all') {
      if (negate || args.some((a, j) => j !== i && !/^(canonical|final)$/i.test(a))) throw new ConfigError('Match all cannot be negated or combined with other criteria (except canonical, final)', at);
      continue;
    }
    if (crit === 'canonical' || crit === 'final') {
      if (crit === 'final' && !negate) w.wantFinal = true;
      if (w.finalPass === negate) result = false;
      continue;
    }
    const value = args[++i];
    if (value === undefined) throw new ConfigError(`Match ${crit} needs an argument`, at);
    let ok: boolean;
    switch (crit) {
      case 'host':
        ok = patternListMatch(matchHost(w), value, true) === 1;
        break;
      case 'originalhost':
        ok = patternListMatch(w.ctx.originalHost, value, true) === 1;
        break;
      case 'user':
        ok = patternListMatch(w.ctx.user ?? first(w, 'user') ?? w.ctx.localUser, value, false) === 1;
        break;
      case 'localuser':
        ok = patternListMatch(w.ctx.localUser, value, false) === 1;
        break;
      case 'tagged':
        ok = patternListMatch(first(w, 'tag') ?? '', value, false) === 1;
        break;
      case 'exec':
        // like ssh: a command is not run once the line can no longer match
        if (!result) continue;
        ok = w.ctx.exec(w.ctx.expand(value, w.opts, at));
        break;
      default:
        throw new ConfigError(`Match ${crit} is not supported by the built-in SSH client (use \`ssh_client: openssh\`)`, at);
    }
    if (ok === negate) result = false;
  }
  return result;
}

function walkText(w: Walk, text: string, file: string, baseDir: string, system: boolean, active: boolean, neverMatch: boolean, depth: number): boolean {
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const parsed = splitLine(lines[n]);
    if (!parsed) continue;
    const at = where(file, n + 1);
    const keyword = parsed.keyword.toLowerCase();
    let args: string[];
    try {
      args = splitArgs(parsed.raw);
    } catch (e) {
      throw new ConfigError(`${parsed.keyword}: ${(e as Error).message}`, at);
    }
    if (keyword === 'host') {
      active = !neverMatch && hostLineMatches(w.hostLineName, args);
      continue;
    }
    if (keyword === 'match') {
      // criteria are checked even in a file that can never match, like ssh (syntax errors surface)
      const ok = neverMatch ? (evalSyntaxOnly(args, at), false) : evalMatch(w, args, at);
      active = ok;
      continue;
    }
    if (keyword === 'include') {
      if (depth >= MAX_INCLUDE_DEPTH) throw new ConfigError('Include nested too deeply', at);
      for (const word of args) {
        const p0 = word === '~' || word.startsWith('~/') ? path.join(w.home, word.slice(1)) : word;
        const pattern = path.isAbsolute(p0) ? p0 : path.join(baseDir, p0);
        for (const inc of globPaths(pattern)) {
          let sub: string;
          try {
            if (statSync(inc).isDirectory()) continue;
            sub = readFileSync(inc, 'utf8');
          } catch {
            continue; // a missing include is fine for ssh too
          }
          const shown = inc.startsWith(w.home + '/') ? `~${inc.slice(w.home.length)}` : inc;
          walkText(w, sub, shown, baseDir, system, active, neverMatch || !active, depth + 1);
        }
      }
      continue; // the including block's state holds again after the include
    }
    if (!keywordInfo(keyword)) {
      // like ssh: an unknown keyword is an error wherever it stands, unless IgnoreUnknown names it
      const ignore = w.opts.get('ignoreunknown')?.[0]?.args[0];
      if (ignore && patternListMatch(keyword, ignore, true) === 1) continue;
      throw new ConfigError(`unknown ssh_config keyword ${parsed.keyword} (\`IgnoreUnknown ${parsed.keyword}\` before it skips it)`, at);
    }
    if (!active) continue;
    obtain(w, keyword, { args, raw: parsed.raw, file, line: n + 1, system, seq: w.seq++ });
  }
  return active;
}

function evalSyntaxOnly(args: string[], at: string): void {
  if (args.length === 0) throw new ConfigError('Match needs criteria (e.g. `Match host web*`)', at);
}

/**
 * Evaluate the config files for one host. Returns every keyword obtained (lower-cased), with a
 * second pass when a `Match final` asked for one. Keyword names are checked in ssh-keywords.ts.
 */
export function evaluateConfig(input: ConfigFileInput, ctx: MatchContext): Options {
  const w: Walk = { ctx, opts: new Map(), finalPass: false, wantFinal: false, home: input.home, seq: 0, hostLineName: ctx.originalHost };
  const run = () => {
    for (const f of input.files) walkText(w, f.text, f.name, f.baseDir, f.system, true, false, 0);
  };
  run();
  if (w.wantFinal) {
    // as ssh: the second pass matches `Host` lines against the (lower-cased) host name found so far
    // (which is then fixed: a HostName met on that pass no longer changes it)
    w.finalPass = true;
    w.hostLineName = matchHost(w);
    const found = w.opts.get('hostname')?.[0];
    w.opts.set('hostname', [{ args: [w.hostLineName], raw: w.hostLineName, file: found?.file ?? 'ssh config', line: found?.line ?? 0, system: false, seq: -1 }]);
    run();
  }
  return w.opts;
}
