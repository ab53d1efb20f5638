import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileEntryExclude, compileExcludes } from '../../src/deploy/exclude.js';
import { scanSource } from '../../src/deploy/source.js';

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
    // a trailing slash (directory pattern) excludes what is below
    ['build/', 'build/out.js', true],
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

  it('the walk version tests one entry (its parents already passed)', () => {
    const ex = compileEntryExclude(['*.log', 'config/local.yml']);
    expect(ex('logs/a.log', 'a.log')).toBe(true);
    expect(ex('config/local.yml', 'local.yml')).toBe(true);
    expect(ex('app/config/local.yml', 'local.yml')).toBe(false);
  });

  it('scanSource uploads exactly the tree minus excludes and reserved names', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ee-exclude-'));
    const files = ['index.html', 'debug.log', 'node_modules/x/i.js', 'lib/app.js', 'lib/app.log', 'REVISION', 'BAD_RELEASE', 'lib/REVISION', '.ee-cache/x', 'config/local.yml', 'config/prod.yml'];
    for (const f of files) {
      mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
      writeFileSync(path.join(dir, f), f);
    }
    mkdirSync(path.join(dir, 'empty'));
    const tree = await scanSource(dir, ['node_modules', '*.log', 'config/local.yml']);
    expect(tree.entries.map((e) => `${e.type}:${e.path}`).sort()).toEqual(
      ['file:index.html', 'dir:lib', 'file:lib/app.js', 'file:lib/REVISION', 'dir:config', 'file:config/prod.yml', 'dir:empty'].sort(),
    );
    expect(tree.files).toBe(4);
  });
});
