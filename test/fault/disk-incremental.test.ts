/**
 * The disk check before an upload asks for what the upload writes, not for the whole release:
 * on an 8 MiB tmpfs holding a 4 MiB app, a one-byte change deploys (source.reuse: hardlink, so
 * unchanged files cost nothing), while a change that really does not fit is still refused
 * before anything is uploaded. With source.reuse: copy the release's own copy is counted.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnCli, mountTmpfs, unmountTmpfs } from './harness.js';

let dir: string;
let mnt: string;
const isRoot = process.getuid?.() === 0;
let mounted = false;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ee-disk-inc-'));
  mnt = path.join(dir, 'mnt');
  mkdirSync(mnt);
  if (!isRoot) return;
  mountTmpfs(mnt, '8m');
  mounted = true;
});

afterAll(async () => {
  if (mounted) await unmountTmpfs(mnt);
  rmSync(dir, { recursive: true, force: true });
});

function project(name: string, reuse: string): { app: string; config: string; root: string } {
  const app = path.join(dir, `app-${name}`);
  mkdirSync(path.join(app, 'lib'), { recursive: true });
  writeFileSync(path.join(app, 'index.html'), 'v1\n');
  // 4 MiB of blobs that do not change
  for (let i = 0; i < 4; i++) writeFileSync(path.join(app, 'lib', `blob${i}.bin`), Buffer.alloc(1024 * 1024, i + 1));
  const root = path.join(mnt, name);
  const config = path.join(dir, `ee-deploy-${name}.yaml`);
  writeFileSync(config, ['project: diskinc', `source: { dir: ${JSON.stringify(app)}, reuse: ${reuse} }`, 'keep_releases: 5', 'environments:', '  tiny:', `    hosts: [{ host: local, path: ${JSON.stringify(root)} }]`, ''].join('\n'));
  return { app, config, root };
}

describe.skipIf(!isRoot)('disk check of an incremental upload (8 MiB tmpfs; needs root to mount)', () => {
  it('reuse: hardlink: a one-byte change on a disk holding a 4 MiB app deploys; a 4 MiB change is refused before the upload', async () => {
    const p = project('hl', 'hardlink');
    const first = await spawnCli(['deploy', '-c', p.config], { cwd: dir });
    expect(first.code, first.stderr).toBe(0);
    writeFileSync(path.join(p.app, 'index.html'), 'v2\n');
    const second = await spawnCli(['deploy', '-c', p.config], { cwd: dir });
    expect(second.code, second.stderr).toBe(0);
    expect(readdirSync(path.join(p.root, 'releases'))).toHaveLength(2);

    // every blob changes: the upload writes 4 MiB, more than is free
    for (let i = 0; i < 4; i++) writeFileSync(path.join(p.app, 'lib', `blob${i}.bin`), Buffer.alloc(1024 * 1024, i + 9));
    const third = await spawnCli(['deploy', '-c', p.config], { cwd: dir });
    expect(third.code, third.stderr).toBe(1);
    expect(third.stderr.trim().split('\n')).toHaveLength(1);
    expect(third.stderr.trim()).toMatch(/^error: local: not enough disk space in .*: [\d.]+ (KiB|MiB) free, the release needs about 4\.0 MiB \(the changed files\)$/);
    expect(third.stdout).not.toMatch(/uploading/);
    expect(readdirSync(path.join(p.root, 'releases'))).toHaveLength(2);
    rmSync(p.root, { recursive: true, force: true });
  });
});
