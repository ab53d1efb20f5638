/**
 * Full disk: the deploy root sits on a 2 MiB tmpfs mounted by the test (we run as
 * root). A release that cannot fit is refused before the upload; one that fills the disk half
 * way (many small files: each takes a whole page on tmpfs, far more than its byte size) fails
 * with an error naming the host and the free space, the staging upload is removed, `current` is
 * untouched and the lock released. `ee-deploy check` warns when free space is under 2x the
 * release size.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkTree, entries, leftovers, manifest, spawnCli, mountTmpfs, unmountTmpfs, type Manifest } from './harness.js';

let dir: string;
let mnt: string;
// mounting a tmpfs needs root (CAP_SYS_ADMIN); elsewhere these tests are skipped, by name
const isRoot = process.getuid?.() === 0;
let mounted = false;
let small: Manifest;

function writeApp(name: string, files: Record<string, string | Buffer>): string {
  const app = path.join(dir, name);
  rmSync(app, { recursive: true, force: true });
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(app, rel)), { recursive: true });
    writeFileSync(path.join(app, rel), content);
  }
  return app;
}

function config(appDir: string): string {
  const file = path.join(dir, `ee-deploy-${path.basename(appDir)}.yaml`);
  writeFileSync(file, ['project: diskfull', `source: { dir: ${JSON.stringify(appDir)} }`, 'keep_releases: 3', 'environments:', '  tiny:', `    hosts: [{ host: local, path: ${JSON.stringify(path.join(mnt, 'app'))} }]`, ''].join('\n'));
  return file;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ee-disk-'));
  mnt = path.join(dir, 'mnt');
  mkdirSync(mnt);
  if (!isRoot) return;
  // as root a failed mount is a failure of the suite, not a reason to skip
  mountTmpfs(mnt, '2m');
  mounted = true;
  const a = writeApp('small', { 'index.html': '<h1>small</h1>\n', 'lib/app.js': 'x'.repeat(20_000) });
  small = await manifest(a);
  const first = await spawnCli(['deploy', '-c', config(a)], { cwd: dir });
  expect(first.code, first.stderr).toBe(0);
});

afterAll(async () => {
  if (mounted) await unmountTmpfs(mnt);
  rmSync(dir, { recursive: true, force: true });
});

function freeKb(): number {
  const out = execFileSync('df', ['-Pk', mnt], { encoding: 'utf8' });
  return Number(out.trim().split('\n')[1].split(/\s+/)[3]);
}

async function expectUntouched(what: string) {
  const root = path.join(mnt, 'app');
  const t = await checkTree(root, small, { shared: [] });
  expect(t.problems, what).toEqual([]);
  expect(t.releases, `${what}: releases`).toHaveLength(1);
  expect(t.current, `${what}: current`).toBe(t.releases[0]);
  expect(entries(path.join(root, '.ee-deploy', 'staging')), `${what}: staging`).toEqual([]);
  expect(leftovers(root), `${what}: leftovers`).toEqual([]);
}

describe.skipIf(!isRoot)('full disk (2 MiB tmpfs; skipped unless run as root, which mount needs)', () => {
  it('a release bigger than the free space is refused before the upload', async () => {
    const big = writeApp('big', { 'blob.bin': Buffer.alloc(3 * 1024 * 1024, 7) });
    const r = await spawnCli(['deploy', '-c', config(big)], { cwd: dir });
    expect(r.code, r.stderr).toBe(1);
    const err = r.stderr.trim().split('\n');
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/^error: local: not enough disk space in .*mnt\/app: [\d.]+ (KiB|MiB) free, the release needs about 6\.0 MiB \(3\.0 MiB uploaded \+ 3\.0 MiB for the release.s own copy, source\.reuse: copy\)/);
    expect(r.stdout).not.toMatch(/uploading/);
    await expectUntouched('after the refused deploy');
  });

  it('a disk that fills up during the upload: clear error, staging removed, current intact', async () => {
    // 900 files of 16 bytes: "14 KiB" to the pre-flight check, but 900 pages (3.5 MiB) on tmpfs
    const files: Record<string, string> = {};
    for (let i = 0; i < 900; i++) files[`d${i % 30}/f${i}.txt`] = `file ${i}`.padEnd(15, '.') + '\n';
    const many = writeApp('many', files);
    const before = freeKb();
    const r = await spawnCli(['deploy', '-c', config(many)], { cwd: dir });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(1);
    const err = r.stderr.trim().split('\n').filter((l) => l.startsWith('error: '));
    expect(err, r.stderr).toHaveLength(1);
    expect(err[0]).toMatch(/^error: local: prepare failed: out of disk space \(No space left on device; [\d.]+ (KiB|MiB) free after removing the partial upload\)/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    await expectUntouched('after the disk filled up');
    // every byte of the failed upload was given back
    expect(freeKb()).toBeGreaterThanOrEqual(before - 64);
  });

  it('`ee-deploy check` warns when free space is under 2x the release size', async () => {
    // ~1.2 MiB app: fits (so a deploy would try), but less than 2x that is free
    const mid = writeApp('mid', { 'blob.bin': Buffer.alloc(1200 * 1024, 1) });
    const r = await spawnCli(['check', '-c', config(mid), '--json'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { hosts: { host: string; warnings: string[] }[] };
    expect(doc.hosts[0].warnings.join(' ')).toMatch(/low disk: [\d.]+ (KiB|MiB) free, under 2x the release size \(1\.2 MiB\)/);
    const plain = await spawnCli(['check', '-c', config(mid)], { cwd: dir });
    expect(plain.stdout).toMatch(/WARN low disk/);
    // and a small app gets no warning
    const ok = await spawnCli(['check', '-c', config(path.join(dir, 'small')), '--json'], { cwd: dir });
    expect((JSON.parse(ok.stdout) as { hosts: { warnings: string[] }[] }).hosts[0].warnings).toEqual([]);
  });
});
