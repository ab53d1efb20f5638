import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileEntryExclude, compileExcludes, excludePatternProblem } from '../../src/release/exclude.js';
import { describeExcluded, scanSource } from '../../src/release/scan.js';

describe('source.exclude patterns', () => {
  it.each([
    // a name without `/` matches at any depth
    ['node_modules', 'node_modules', true],
    ['node_modules', 'node_modules/x/index.js', true],
    ['node_modules', 'packages/a/node_modules/x.js', true],
    ['node_modules', 'node_modules_old/x.js', false],
    ['.git', '.git/config', true],
    ['.git', '.github/workflows/ci.yml', false],
    ['*.log', 'debug.log', true],
    ['*.log', 'logs/app/today.log', true],
    ['*.log', 'debug.log.txt', false],
    ['*.log', 'catalog', false],
    ['?.txt', 'a.txt', true],
    ['?.txt', 'ab.txt', false],
    ['.env*', '.env.local', true],
    // with `/`: anchored at source.dir
    ['config/local.yml', 'config/local.yml', true],
    ['config/local.yml', 'app/config/local.yml', false],
    ['/tmp', 'tmp/cache/x', true],
    ['/tmp', 'src/tmp', false],
    ['docs/*.md', 'docs/a.md', true],
    ['docs/*.md', 'docs/sub/a.md', false],
    // `**` crosses segments, `**/` also matches no segment at all
    ['docs/**/*.md', 'docs/a.md', true],
    ['docs/**/*.md', 'docs/sub/deeper/a.md', true],
    ['**/cache', 'cache', true],
    ['**/cache', 'a/b/cache/x', true],
    ['a/**/b', 'a/b', true],
    ['a/**/b', 'a/x/y/b', true],
    ['a/**/b', 'a/xb', false],
    ['a/**', 'a/x/y', true],
    // a trailing slash matches directories only (and so what is below them)
    ['build/', 'build/out.js', true],
    ['build/', 'build/', true],
    ['build/', 'build', false],
    ['build/', 'src/build/x', true],
    // character classes: one character of, or not of, a class; never a `/`
    ['[abc].txt', 'b.txt', true],
    ['[abc].txt', 'd.txt', false],
    ['log[0-9].txt', 'log7.txt', true],
    ['log[0-9].txt', 'logx.txt', false],
    ['[!a]*.js', 'b.js', true],
    ['[!a]*.js', 'a.js', false],
    ['[^a]*.js', 'a.js', false],
    ['x[]]y', 'x]y', true],
    ['x[-a]y', 'x-y', true],
    ['x[a-]y', 'x-y', true],
    ['a[/]b', 'a/b', false],
    ['a[!x]b', 'a/b', false],
    ['[\\d]', 'd', true],
    ['[\\d]', '5', false],
    // an unclosed `[` is literal; `\` makes the next character literal
    ['a[b', 'a[b', true],
    ['\\*.txt', '*.txt', true],
    ['\\*.txt', 'a.txt', false],
    ['\\!keep', '!keep', true],
    // regex characters are literal
    ['a+b.(c)', 'a+b.(c)', true],
    ['a+b.(c)', 'aab.xc', false],
    ['$x', '$x', true],
  ])('%j excludes %j: %s', (pattern, rel, excluded) => {
    expect(compileExcludes([pattern])(rel)).toBe(excluded);
  });

  it('nothing excludes the root, several patterns combine', () => {
    const ex = compileExcludes(['*.log', 'tmp']);
    expect(ex('')).toBe(false);
    expect(ex('.')).toBe(false);
    expect(ex('./debug.log')).toBe(true);
    expect(ex('tmp/')).toBe(true);
    expect(ex('src/index.js')).toBe(false);
    expect(compileExcludes([])('anything')).toBe(false);
  });

  it('"!" includes again what an earlier pattern excluded; the last match wins', () => {
    const ex = compileExcludes(['*.log', '!important.log', 'logs/important.log']);
    expect(ex('debug.log')).toBe(true);
    expect(ex('important.log')).toBe(false);
    expect(ex('app/important.log')).toBe(false);
    expect(ex('logs/important.log')).toBe(true);
    // a negation before the pattern it would undo changes nothing
    expect(compileExcludes(['!keep.log', '*.log'])('keep.log')).toBe(true);
    // nothing inside an excluded directory comes back (as in git)
    expect(compileExcludes(['tmp', '!tmp/keep'])('tmp/keep')).toBe(true);
    // but a directory's contents can be excluded and one of them kept
    const inside = compileExcludes(['tmp/*', '!tmp/keep']);
    expect(inside('tmp/junk')).toBe(true);
    expect(inside('tmp/keep')).toBe(false);
    expect(inside('tmp/keep/deeper')).toBe(false);
    expect(inside('tmp/')).toBe(false);
  });

  it('a pattern that can never match is a config error', () => {
    expect(excludePatternProblem('*.log')).toBeUndefined();
    expect(excludePatternProblem('!*.log')).toBeUndefined();
    expect(excludePatternProblem('!')).toMatch(/matches nothing/);
    expect(excludePatternProblem('/')).toMatch(/matches nothing/);
    expect(excludePatternProblem('[z-a]')).toMatch(/matches nothing/);
  });

  it('a pattern is one YAML string: "#" is literal, an unclosed "[" or a trailing "\\" too; POSIX classes as in git', () => {
    expect(compileExcludes(['#scratch#'])('#scratch#')).toBe(true);
    expect(compileExcludes(['#scratch#'])('scratch#')).toBe(false);
    expect(excludePatternProblem('#scratch#')).toBeUndefined();
    expect(compileExcludes(['  tmp  '])('tmp/x')).toBe(true);
    expect(compileExcludes(['foo\\'])('foo\\')).toBe(true);
    expect(compileExcludes(['[[:digit:]].txt'])('7.txt')).toBe(true);
    expect(compileExcludes(['[[:digit:]].txt'])('a.txt')).toBe(false);
    expect(compileExcludes(['Build'])('build')).toBe(false);
    expect(excludePatternProblem('[[:digit:]].txt')).toBeUndefined();
    expect(excludePatternProblem('[[:digits:]].txt')).toMatch(/matches nothing \(unknown character class/);
  });

  it('the walk version tests one entry (its parents already passed)', () => {
    const ex = compileEntryExclude(['*.log', 'config/local.yml']);
    expect(ex('logs/a.log', 'a.log', false)).toBe(true);
    expect(ex('config/local.yml', 'local.yml', false)).toBe(true);
    expect(ex('app/config/local.yml', 'local.yml', false)).toBe(false);
    const dirs = compileEntryExclude(['cache/']);
    expect(dirs('a/cache', 'cache', true)).toBe(true);
    expect(dirs('a/cache', 'cache', false)).toBe(false);
  });

  it('scanSource uploads exactly the tree minus excludes and reserved names', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ee-exclude-'));
    const files = ['index.html', 'debug.log', 'node_modules/x/i.js', 'lib/app.js', 'lib/app.log', 'REVISION', 'BAD_RELEASE', 'lib/REVISION', '.ee-cache/x', 'config/local.yml', 'config/prod.yml'];
    for (const f of files) {
      mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
      writeFileSync(path.join(dir, f), f);
    }
    mkdirSync(path.join(dir, 'empty'));
    writeFileSync(path.join(dir, 'keep.log'), 'kept');
    mkdirSync(path.join(dir, 'cache'));
    writeFileSync(path.join(dir, 'cache', 'x'), 'x');
    writeFileSync(path.join(dir, 'lib', 'cache'), 'a file named like the directory pattern');
    const tree = await scanSource(dir, ['node_modules', '*.log', '!keep.log', 'config/local.yml', 'cache/']);
    expect(tree.entries.map((e) => `${e.type}:${e.path}`).sort()).toEqual(
      ['file:index.html', 'file:keep.log', 'dir:lib', 'file:lib/app.js', 'file:lib/REVISION', 'file:lib/cache', 'dir:config', 'file:config/prod.yml', 'dir:empty'].sort(),
    );
    expect(tree.files).toBe(6);
    // what each pattern removed, files inside excluded directories counted
    expect(tree.excluded).toEqual([
      { pattern: 'cache/', files: 1, dirs: 1 },
      { pattern: 'config/local.yml', files: 1, dirs: 0 },
      { pattern: '*.log', files: 2, dirs: 0 },
      { pattern: 'node_modules', files: 1, dirs: 1 },
    ]);
    expect(describeExcluded(tree.excluded!)).toBe('cache/ -> 1 file (1 dir), config/local.yml -> 1 file, *.log -> 2 files, node_modules -> 1 file (1 dir)');
    expect(describeExcluded([{ pattern: 'node_modules', files: 50000, dirs: 1, more: true }])).toBe('node_modules -> 50000+ files (1 dir)');
  });
});
