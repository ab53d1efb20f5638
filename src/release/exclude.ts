/**
 * `source.exclude` patterns, with .gitignore's rules:
 * - a pattern without `/` (other than a trailing one) matches a name at any depth (`*.log`,
 *   `node_modules`); with `/` it is anchored at source.dir (`config/local.yml`, `/tmp`);
 * - `*` and `?` stay within a segment, `**` crosses segments, `[abc]` / `[a-z]` / `[!abc]` match
 *   one character of (or not of) a class, `\` makes the next character literal;
 * - a trailing `/` matches directories only (`build/`);
 * - `!pattern` includes again what an earlier pattern excluded; the last matching pattern wins;
 * - an excluded directory excludes everything below it, and no `!` can bring back a path inside
 *   it (as in git: the walk never enters it).
 */

interface Matcher {
  negate: boolean;
  dirOnly: boolean;
  test(path: string, name: string): boolean;
}

/**
 * For a walk that never enters excluded directories: only the entry itself is tested (its
 * parents already passed). `rel` is clean ('/'-separated, no leading ./), `name` its last
 * segment.
 */
export function compileEntryExclude(patterns: string[]): (rel: string, name: string, isDir: boolean) => boolean {
  const matchers = patterns.map(compile).filter((m): m is Matcher => m !== undefined);
  return (rel, name, isDir) => {
    let excluded = false;
    for (const m of matchers) {
      if (m.dirOnly && !isDir) continue;
      if (m.negate !== excluded) continue; // cannot change the outcome
      if (m.test(rel, name)) excluded = !m.negate;
    }
    return excluded;
  };
}

/**
 * Is `relPath` excluded, with everything above it a directory? A trailing `/` marks `relPath`
 * itself as a directory. A path is excluded when it, or any directory above it, is.
 */
export function compileExcludes(patterns: string[]): (relPath: string) => boolean {
  const entry = compileEntryExclude(patterns);
  return (rel) => {
    const isDir = /\/$/.test(rel);
    const clean = rel.replace(/^\.\//, '').replace(/\/+$/, '');
    if (!clean || clean === '.') return false;
    const segs = clean.split('/');
    for (let i = 1; i <= segs.length; i++) {
      if (entry(segs.slice(0, i).join('/'), segs[i - 1], i < segs.length || isDir)) return true;
    }
    return false;
  };
}

/** Why a pattern can never match anything (a config error), or undefined when it is usable. */
export function excludePatternProblem(pattern: string): string | undefined {
  if (compile(pattern) === undefined) return `exclude pattern ${JSON.stringify(pattern)} matches nothing (empty, or a character range out of order)`;
  return undefined;
}

function compile(pattern: string): Matcher | undefined {
  let p = pattern.trim();
  let negate = false;
  if (p.startsWith('!')) {
    negate = true;
    p = p.slice(1);
  } else if (p.startsWith('\\!')) p = p.slice(1);
  const dirOnly = /\/$/.test(p);
  p = p.replace(/\/+$/, '');
  const anchored = p.includes('/');
  p = p.replace(/^\/+/, '');
  if (!p) return undefined;
  let re: RegExp;
  try {
    re = new RegExp(`^${globToRegExpSource(p)}$`);
  } catch {
    return undefined; // e.g. a range out of order, `[z-a]`
  }
  return { negate, dirOnly, test: anchored ? (path) => re.test(path) : (_path, name) => re.test(name) };
}

function globToRegExpSource(glob: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '\\' && i + 1 < glob.length) out += literal(glob[++i]);
    else if (c === '*') {
      if (glob[i + 1] === '*') {
        i++;
        if (glob[i + 1] === '/') {
          // `**/` is zero or more whole segments: `a/**/b` matches `a/b` and `a/x/b`, never `a/xb`
          out += '(?:.*/)?';
          i++;
        } else out += '.*';
      } else out += '[^/]*';
    } else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const cls = charClass(glob, i);
      if (cls) {
        out += cls.source;
        i = cls.end;
      } else out += literal(c); // no closing `]`: a literal `[`
    } else out += literal(c);
  }
  return out;
}

/** `[...]` starting at `start`: its regex (never matching `/`) and the index of its `]` */
function charClass(glob: string, start: number): { source: string; end: number } | undefined {
  let i = start + 1;
  let negate = false;
  if (glob[i] === '!' || glob[i] === '^') {
    negate = true;
    i++;
  }
  let body = '';
  const first = i;
  for (; i < glob.length; i++) {
    const c = glob[i];
    if (c === ']' && i > first) return { source: negate ? `[^/${body}]` : `(?!/)[${body}]`, end: i };
    if (c === '\\' && i + 1 < glob.length) body += classChar(glob[++i]);
    else if (c === '-' && i > first && glob[i + 1] !== ']' && i + 1 < glob.length) body += '-';
    else body += classChar(c);
  }
  return undefined;
}

function classChar(c: string): string {
  return /[\]\\^-]/.test(c) ? `\\${c}` : c;
}

function literal(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
