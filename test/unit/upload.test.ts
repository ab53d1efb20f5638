import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentHash, parseManifest, serializeManifest } from '../../src/release/manifest.js';
import { scanSource } from '../../src/release/scan.js';
import { tarHeader } from '../../src/release/tar-writer.js';
import { fanout } from '../../src/release/fanout.js';
import { HashCache } from '../../src/release/hash-cache.js';
import { LocalTree } from '../../src/release/local-tree.js';
import { ReleaseArchive } from '../../src/release/tar-stream.js';
import { UploadPlan } from '../../src/release/upload-plan.js';
import { isLoopbackAddress } from '../../src/transport/ssh/ssh-transport.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-upload-'));
const savedCache = process.env.EE_DEPLOY_CACHE_DIR;
beforeAll(() => {
  process.env.EE_DEPLOY_CACHE_DIR = path.join(tmp, 'cache');
});
afterAll(() => {
  if (savedCache === undefined) delete process.env.EE_DEPLOY_CACHE_DIR;
  else process.env.EE_DEPLOY_CACHE_DIR = savedCache;
  rmSync(tmp, { recursive: true, force: true });
});

function write(root: string, files: Record<string, string | Buffer>): void {
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), content);
  }
}

async function collect(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

const longDir = `${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(60)}`;
const longName = `${'n'.repeat(120)}.txt`; // a single segment over 100 bytes: needs pax

describe('ReleaseArchive', () => {
  let app: string;
  beforeAll(() => {
    app = path.join(tmp, 'app');
    write(app, {
      'index.html': '<h1>hi</h1>\n',
      'lib/app.js': 'console.log(1)\n',
      [`${longDir}/deep.txt`]: 'deep\n',
      [longName]: 'long\n',
      'unicode/héllo wörld.txt': 'ü\n',
      'big.bin': Buffer.alloc(5 * 1024 * 1024 + 3, 7), // over the one-read limit: chunked
      'empty.txt': '',
    });
    mkdirSync(path.join(app, 'empty-dir'));
    symlinkSync('lib/app.js', path.join(app, 'latest.js'));
  });

  it('GNU tar extracts exactly the tree, as the new upload base, with the manifest last', async () => {
    const tree = await scanSource(app, []);
    const local = LocalTree.of(tree);
    let manifest = '';
    const bytes = await collect(new ReleaseArchive({ local, id: '20260101000000', onManifest: (t) => (manifest = t) }));
    expect(bytes.length % 512).toBe(0);
    const root = path.join(tmp, 'root1');
    mkdirSync(root);
    execFileSync('tar', ['-xf', '-', '-C', root], { input: bytes });
    const rel = path.join(root, '.ee-deploy/base/20260101000000');
    execFileSync('diff', ['-r', '--no-dereference', app, rel]);
    expect(readFileSync(path.join(root, '.ee-deploy/base/20260101000000.manifest'), 'utf8')).toBe(manifest);
    const m = parseManifest(manifest);
    expect(m.entries.find((e) => e.path === 'big.bin')?.hash).toBe(contentHash(readFileSync(path.join(app, 'big.bin'))));
    expect(m.entries.find((e) => e.path === 'latest.js')).toMatchObject({ type: 'l', hash: contentHash('lib/app.js') });
    expect(statSync(path.join(rel, 'lib/app.js')).mtimeMs).toBe(Math.floor(statSync(path.join(app, 'lib/app.js')).mtimeMs / 1000) * 1000);
  });

  it('unchanged files become hard links into the previous upload base; the manifest too when identical', async () => {
    const tree = await scanSource(app, []);
    const local = LocalTree.of(tree);
    const root = path.join(tmp, 'root2');
    mkdirSync(root);
    // a base with the same content
    execFileSync('tar', ['-xf', '-', '-C', root], { input: await collect(new ReleaseArchive({ local, id: '20260101000000' })) });
    const { digest } = serializeManifest(local.manifestEntries());
    const linked = new Set(['lib/app.js', 'big.bin', `${longDir}/deep.txt`]);
    const archive = new ReleaseArchive({ local, id: '20260102000000', base: { release: '20260101000000', linked, manifestDigest: digest } });
    const bytes = await collect(archive);
    expect(archive.linkedFiles).toBe(3);
    expect(bytes.length).toBeLessThan(64 * 1024); // big.bin not sent
    execFileSync('tar', ['-xf', '-', '-C', root], { input: bytes });
    const a = (p: string) => statSync(path.join(root, '.ee-deploy/base/20260101000000', p));
    const b = (p: string) => statSync(path.join(root, '.ee-deploy/base/20260102000000', p));
    expect(b('big.bin').ino).toBe(a('big.bin').ino);
    expect(b(`${longDir}/deep.txt`).ino).toBe(a(`${longDir}/deep.txt`).ino);
    expect(b('index.html').ino).not.toBe(a('index.html').ino);
    expect(statSync(path.join(root, '.ee-deploy/base/20260102000000.manifest')).ino).toBe(statSync(path.join(root, '.ee-deploy/base/20260101000000.manifest')).ino);
    execFileSync('diff', ['-r', '--no-dereference', app, path.join(root, '.ee-deploy/base/20260102000000')]);
  });

  it('a file that changes size between scan and upload fails the archive', async () => {
    const dir = path.join(tmp, 'shrinking');
    write(dir, { 'a.txt': 'abcdef' });
    const tree = await scanSource(dir, []);
    writeFileSync(path.join(dir, 'a.txt'), 'abc');
    await expect(collect(new ReleaseArchive({ local: LocalTree.of(tree), id: '20260101000000' }))).rejects.toThrow(/changed while it was being uploaded/);
  });

  it('pax headers carry names and link targets that ustar cannot', () => {
    const h = tarHeader({ name: `x/${'y'.repeat(200)}`, type: 'hardlink', mode: 0o644, mtime: 0, linkname: `r/${'z'.repeat(150)}` });
    expect(h.length).toBe(512 * 3); // pax header, pax data, header
    expect(h.subarray(512, 1024).toString('utf8')).toMatch(/ path=x\/y{200}\n\d+ linkpath=r\/z{150}\n/);
  });
});

describe('HashCache', () => {
  it('vouches for a file while size, mtime, ctime and inode are unchanged', async () => {
    const dir = path.join(tmp, 'cached');
    write(dir, { 'a.txt': 'one', 'b.txt': 'two' });
    const old = new Date(Date.now() - 60_000);
    utimesSync(path.join(dir, 'a.txt'), old, old);
    utimesSync(path.join(dir, 'b.txt'), old, old);
    const tree = await scanSource(dir, []);
    const c = HashCache.load(dir);
    for (const e of tree.entries) if (e.type === 'file') c.set(e, contentHash(readFileSync(path.join(dir, e.path))), Date.now() + 10_000);
    c.save();
    const again = HashCache.load(dir);
    const t2 = await scanSource(dir, []);
    expect(again.get(t2.entries.find((e) => e.path === 'a.txt')!)).toBe(contentHash('one'));
    writeFileSync(path.join(dir, 'b.txt'), 'TWO');
    utimesSync(path.join(dir, 'b.txt'), old, old); // same size, mtime restored: ctime still tells
    const t3 = await scanSource(dir, []);
    expect(again.get(t3.entries.find((e) => e.path === 'b.txt')!)).toBeUndefined();
  });

  it('does not trust hashes of files modified just now (racily clean)', async () => {
    const dir = path.join(tmp, 'racy');
    write(dir, { 'a.txt': 'x' });
    const tree = await scanSource(dir, []);
    const c = HashCache.load(dir);
    c.set(tree.entries[0], contentHash('x'));
    expect(c.get(tree.entries[0])).toBeUndefined();
  });
});

describe('UploadPlan', () => {
  it('groups hosts by archive, links only what the base manifest has, never shared paths', async () => {
    const dir = path.join(tmp, 'plan');
    write(dir, { 'a.txt': 'a', 'b.txt': 'b', 'storage/x.txt': 'x' });
    const tree = await scanSource(dir, []);
    const local = LocalTree.of(tree);
    local.ensureHashes();
    const base = serializeManifest(local.manifestEntries().map((e) => (e.path === 'b.txt' ? { ...e, hash: contentHash('old') } : e)));
    const plan = UploadPlan.create({
      tree,
      id: '20260102000000',
      targets: [
        { key: 'h1', gzip: false, manifest: { release: '20260101000000', digest: base.digest, text: base.text } },
        { key: 'h2', gzip: false, manifest: { release: '20260101000000', digest: base.digest, text: base.text } },
        { key: 'h3', gzip: false },
        { key: 'h4', gzip: 1, manifest: { release: '20260101000000', digest: 'f'.repeat(32), cached: true } }, // not in the local cache: full
      ],
      shared: ['storage'],
      limit: 10,
    });
    expect(plan.groups.map((g) => g.members)).toEqual([['h1', 'h2'], ['h3'], ['h4']]);
    expect(plan.summary).toMatchObject({ incremental: true, linked: 1, sent: 2 });
    const seen: Record<string, { gzip: boolean; base?: string; bytes: number }> = {};
    await plan.forEach(async (key, send) => {
      await send(async (a) => {
        seen[key] = { gzip: a.gzip, base: a.base, bytes: (await collect(a.stdin)).length };
      });
    });
    expect(seen.h1).toEqual(seen.h2);
    expect(seen.h1.base).toBe('20260101000000');
    expect(seen.h3.base).toBeUndefined();
    expect(seen.h4.gzip).toBe(true);
    expect(seen.h1.bytes).toBeLessThan(seen.h3.bytes);
  });

  it('retries a failed incremental upload once with a full archive', async () => {
    const dir = path.join(tmp, 'retry');
    write(dir, { 'a.txt': 'a' });
    const tree = await scanSource(dir, []);
    const local = LocalTree.of(tree);
    local.ensureHashes();
    const base = serializeManifest(local.manifestEntries());
    const plan = UploadPlan.create({ tree, id: '20260102000000', targets: [{ key: 'h', gzip: false, manifest: { release: '20260101000000', digest: base.digest, text: base.text } }], shared: [], limit: 1 });
    const bases: (string | undefined)[] = [];
    await plan.forEach(async (_key, send) => {
      await send(async (a) => {
        bases.push(a.base);
        await collect(a.stdin);
        if (a.base) throw Object.assign(new Error('prepare failed'), { stdout: '', stderr: '@@ee failed upload: tar exited 2\n' });
      });
    });
    expect(bases).toEqual(['20260101000000', undefined]);
  });
});

describe('isLoopbackAddress (no compression to this machine)', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['::1', true],
    ['::ffff:127.0.0.1', true],
    ['10.0.0.1', false],
    ['::ffff:10.0.0.1', false],
    [undefined, false],
  ])('%s -> %s', (a, want) => expect(isLoopbackAddress(a)).toBe(want));
});

describe('fanout', () => {
  it('feeds every output, pacing the source by the slowest one', async () => {
    const chunks = Array.from({ length: 64 }, (_, i) => Buffer.alloc(64 * 1024, i));
    let produced = 0;
    const src = Readable.from(
      (function* () {
        for (const c of chunks) {
          produced++;
          yield c;
        }
      })(),
    );
    const [fast, slow] = fanout(src, 2, 128 * 1024);
    const fastDone = collect(fast);
    // the slow reader has not started: the source must stop after a few chunks
    await new Promise((r) => setTimeout(r, 50));
    expect(produced).toBeLessThan(16);
    const [a, b] = await Promise.all([fastDone, collect(slow)]);
    expect(a.equals(Buffer.concat(chunks))).toBe(true);
    expect(b.equals(a)).toBe(true);
  });

  it('drops an output that is destroyed and goes on with the others', async () => {
    const src = Readable.from(Array.from({ length: 32 }, () => Buffer.alloc(64 * 1024, 1)));
    const [a, b] = fanout(src, 2, 64 * 1024);
    b.destroy();
    expect((await collect(a)).length).toBe(32 * 64 * 1024);
  });

  it('destroys the source when every output is gone', async () => {
    const src = new PassThrough();
    const [a] = fanout(src, 1);
    a.destroy();
    await new Promise((r) => setTimeout(r, 10));
    expect(src.destroyed).toBe(true);
  });
});

describe('the local cache', () => {
  it('is private: 0600 files in 0700 directories (it names every file of a project)', async () => {
    const { writeAtomic, cacheDir } = await import('../../src/release/cache-dir.js');
    const file = path.join(cacheDir(), 'manifests', 'private-check');
    writeAtomic(file, 'x\n');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
  });
});
