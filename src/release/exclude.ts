/**
 * `source.exclude` patterns, with .gitignore's rules (the `ignore` package, which follows git's
 * wildmatch): no `/` but a trailing one = a name at any depth, with `/` = anchored at source.dir;
 * `*` `?` `[...]` stay within a segment, `**` crosses segments; `dir/` = directories only; `!pat`
 * includes again, the last match wins; nothing inside an excluded directory comes back.
 *
 * Each pattern is one YAML string, not a line of a .gitignore file, so it is read as written where
 * a .gitignore line would be a comment or be dropped (the matcher used before `ignore` did the same):
 * - surrounding whitespace is trimmed, and a leading `#` is a literal `#`, not a comment;
 * - a `[` with no `]` to close it is a literal `[` (git drops the whole pattern), and so is a
 *   trailing lone `\` a literal `\`.
 * A pattern that still matches nothing is a config error (excludePatternProblem).
 */
import ignore from 'ignore';

/**
 * For a walk that never enters excluded directories: `rel` is clean ('/'-separated, no leading
 * ./), its parents already passed; `name` is its last segment.
 */
export function compileEntryExclude(patterns: string[]): (rel: string, name: string, isDir: boolean) => boolean {
  const rule = compileEntryExcludeRule(patterns);
  return (rel, name, isDir) => rule(rel, name, isDir) !== undefined;
}

/** Like compileEntryExclude, answering with the pattern (as the user wrote it) that excludes the entry. */
export function compileEntryExcludeRule(patterns: string[]): (rel: string, name: string, isDir: boolean) => string | undefined {
  const ig = ignore({ ignorecase: false }).add(patterns.map((p) => ({ pattern: read(p).body, mark: p })));
  return (rel, _name, isDir) => {
    const r = ig.test(isDir ? `${rel}/` : rel);
    return r.ignored ? (r.rule?.mark ?? r.rule?.pattern ?? '?') : undefined;
  };
}

/**
 * Is `relPath` excluded, with everything above it a directory? A trailing `/` marks `relPath`
 * itself as a directory. A path is excluded when it, or any directory above it, is.
 */
export function compileExcludes(patterns: string[]): (relPath: string) => boolean {
  const ig = compile(patterns);
  return (rel) => {
    const isDir = /\/$/.test(rel);
    const clean = rel.replace(/^\.\//, '').replace(/\/+$/, '');
    if (!clean || clean === '.') return false;
    return ig.ignores(isDir ? `${clean}/` : clean);
  };
}

/** Why a pattern can never match anything (a config error), or undefined when it is usable. */
export function excludePatternProblem(pattern: string): string | undefined {
  const { body, problem } = read(pattern);
  if (problem === 'unknown-class') return `exclude pattern ${JSON.stringify(pattern)} matches nothing (unknown character class: use [:alpha:], [:digit:], [:space:]...)`;
  if (problem === 'range' || !body.replace(/^!/, '').replace(/^\/+|\/+$/g, '')) return `exclude pattern ${JSON.stringify(pattern)} matches nothing (empty, or a character range out of order)`;
  return undefined;
}

function compile(patterns: string[]) {
  return ignore({ ignorecase: false }).add(patterns.map((p) => read(p).body));
}

/** what `ignore` cannot tell apart from a usable pattern, found while scanning its brackets */
type Problem = 'range' | 'unknown-class';

const POSIX_CLASSES = new Set(['alnum', 'alpha', 'blank', 'cntrl', 'digit', 'graph', 'lower', 'print', 'punct', 'space', 'upper', 'xdigit']);

/** The pattern as `ignore` should read it (see the top of the file), and what makes it match nothing. */
function read(pattern: string): { body: string; problem?: Problem } {
  const p = pattern.trim();
  let body = p.startsWith('#') ? '\\' : '';
  let problem: Problem | undefined;
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === '\\') {
      body += i + 1 < p.length ? c + p[++i] : '\\\\';
    } else if (c === '[') {
      const b = scanBracket(p, i);
      if (!b) {
        body += '\\[';
        continue;
      }
      problem ??= b.problem;
      body += p.slice(i, b.end + 1);
      i = b.end;
    } else body += c;
  }
  return { body, problem };
}

/**
 * The bracket expression at `p[start] === '['`, member by member as git's wildmatch (and so
 * `ignore`) reads it: its closing `]`, or undefined when nothing closes it.
 */
function scanBracket(p: string, start: number): { end: number; problem?: Problem } | undefined {
  let i = start + 1;
  if (p[i] === '!' || p[i] === '^') i++;
  let prev = ''; // the member a `-` makes a range from
  let problem: Problem | undefined;
  // the first member is taken whatever it is: `[]]` is a class holding `]`
  for (;;) {
    const c = p[i];
    if (c === undefined) return undefined;
    if (c === '\\') {
      if (i + 1 >= p.length) return undefined;
      prev = p[++i];
    } else if (c === '-' && prev && i + 1 < p.length && p[i + 1] !== ']') {
      let to = p[++i];
      if (to === '\\') {
        if (i + 1 >= p.length) return undefined;
        to = p[++i];
      }
      if (prev > to) problem ??= 'range';
      prev = '';
    } else if (c === '[' && p[i + 1] === ':') {
      const close = p.indexOf(']', i + 2);
      if (close < 0) return undefined;
      if (close > i + 2 && p[close - 1] === ':') {
        if (!POSIX_CLASSES.has(p.slice(i + 2, close - 1))) problem ??= 'unknown-class';
        prev = '';
        i = close;
      } else prev = '[';
    } else prev = c;
    i++;
    if (p[i] === ']') return { end: i, problem };
  }
}
