/**
 * `source.exclude` patterns, gitignore-like: a pattern without `/` matches a name at any depth
 * (`*.log`, `node_modules`); with `/` it is anchored at source.dir (`config/local.yml`,
 * `/tmp`); `*` and `?` stay within a segment, `**` crosses segments. An excluded directory
 * excludes everything below it.
 */
export function compileExcludes(patterns: string[]): (relPath: string) => boolean {
  const matchers = patterns.map(compile);
  return (rel) => {
    const clean = rel.replace(/^\.\//, '').replace(/\/+$/, '');
    if (!clean || clean === '.') return false;
    const segs = clean.split('/');
    // a path is excluded when it, or any of its parent directories, matches
    for (let i = 1; i <= segs.length; i++) {
      const prefix = segs.slice(0, i).join('/');
      const name = segs[i - 1];
      if (matchers.some((m) => m(prefix, name))) return true;
    }
    return false;
  };
}

/**
 * The same patterns for a walk that never enters excluded directories: only the entry itself is
 * tested (its parents already passed). `rel` is clean ('/'-separated, no leading ./), `name` its
 * last segment.
 */
export function compileEntryExclude(patterns: string[]): (rel: string, name: string) => boolean {
  const matchers = patterns.map(compile);
  return (rel, name) => {
    for (const m of matchers) if (m(rel, name)) return true;
    return false;
  };
}

function compile(pattern: string): (path: string, name: string) => boolean {
  let p = pattern.trim().replace(/\/+$/, '');
  const anchored = p.includes('/');
  p = p.replace(/^\//, '');
  const re = new RegExp(`^${globToRegExpSource(p)}$`);
  return anchored ? (path) => re.test(path) : (_path, name) => re.test(name);
}

function globToRegExpSource(glob: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') {
      if (glob[i + 1] === '*') {
        i++;
        if (glob[i + 1] === '/') {
          // `**/` is zero or more whole segments: `a/**/b` matches `a/b` and `a/x/b`, never `a/xb`
          out += '(?:.*/)?';
          i++;
        } else out += '.*';
      } else out += '[^/]*';
    } else if (c === '?') out += '[^/]';
    else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return out;
}
