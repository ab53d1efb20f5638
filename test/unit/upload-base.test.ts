/**
 * The upload base (remote/steps/upload-base.ts), run by a real `sh` against a temp dir: prepare
 * makes it and gives the release its own copy; open checks it before it is reused.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManifestError, parseManifest, serializeManifest, contentHash } from '../../src/release/manifest.js';
import { openScript, parseState } from '../../src/remote/steps/open.js';
import { failedInTar, prepareScript } from '../../src/remote/steps/prepare.js';
import type { Reuse } from '../../src/remote/steps/upload-base.js';
import { serializeLock } from '../../src/remote/steps/lock.js';
import type { Cmd } from '../../src/remote/shell.js';

const A = '20261120100000';
const B = '20261121100000';

let tmp: string;
let root: string;
beforeEach(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-base-'));
  root = path.join(tmp, 'srv dir', 'shop');
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

/**
 * The scripts run with the system's tools (GNU here) and with BusyBox's alone (sh, cp without
 * --reflink, find, tar, touch, ls...): a directory of applet links first on PATH.
 */
const BUSYBOX = mkdtempSync(path.join(os.tmpdir(), 'ee-busybox-'));
for (const applet of spawnSync('busybox', ['--list'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean)) symlinkSync('/usr/bin/busybox', path.join(BUSYBOX, applet));
const TOOLSETS = [
  { name: 'system tools', env: process.env },
  { name: 'BusyBox', env: { ...process.env, PATH: `${BUSYBOX}:${process.env.PATH}` } },
];
let env: NodeJS.ProcessEnv = process.env;
afterAll(() => rmSync(BUSYBOX, { recursive: true, force: true }));

function sh(c: Cmd, stdin: Buffer = Buffer.alloc(0)) {
  const r = spawnSync('sh', ['-c', c.text], { input: stdin, encoding: 'buffer', env });
  return { code: r.status, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
}

/** an archive as the upload plan makes it: the upload under .ee-deploy/base/<id>/ and its manifest */
function archive(id: string, files: Record<string, string>): { tar: Buffer; manifest: string } {
  const dir = mkdtempSync(path.join(tmp, 'tar-'));
  const entries = Object.entries(files).map(([p, c]) => ({ path: p, type: 'f' as const, mode: 0o644, size: Buffer.byteLength(c), hash: contentHash(c) }));
  const { text } = serializeManifest(entries);
  mkdirSync(path.join(dir, '.ee-deploy/base', id), { recursive: true });
  for (const [p, c] of Object.entries(files)) writeFileSync(path.join(dir, '.ee-deploy/base', id, p), c);
  writeFileSync(path.join(dir, '.ee-deploy/base', `${id}.manifest`), text);
  const r = spawnSync('tar', ['-cf', '-', '-C', dir, '.ee-deploy'], { encoding: 'buffer' });
  return { tar: r.stdout, manifest: text };
}

const prepare = (id: string, reuse: Reuse, files: Record<string, string>) =>
  sh(prepareScript({ root, id, gzip: false, sharedDirs: [], sharedFiles: [], revision: 'r', revisionTime: 't', hooks: [], hookEnv: {}, reuse }), archive(id, files).tar);
/** a deploy's `open` (takes the lock, then lets it go again, as a finished run would) */
function open() {
  const r = sh(openScript(root, { lockInfo: serializeLock({ user: 'a', machine: 'm', pid: 1, time: new Date().toISOString(), token: 'x' }), manifests: [] }));
  rmSync(path.join(root, '.ee-deploy/lock'), { recursive: true, force: true });
  return parseState(r.stdout);
}
const base = (...p: string[]) => path.join(root, '.ee-deploy/base', ...p);

describe.each(TOOLSETS)('the upload base ($name)', (tools) => {
  beforeEach(() => {
    env = tools.env;
    expect(spawnSync('sh', ['-c', 'readlink -f "$(command -v cp)"'], { env, encoding: 'utf8' }).stdout.trim()).toMatch(tools.name === 'BusyBox' ? /busybox$/ : /\/cp$/);
  });

  it('reuse: copy gives the release its own files; the base replaces the older one and open offers its manifest', () => {
    open(); // creates the layout, as a deploy's first exec does
    expect(prepare(A, 'copy', { 'a.txt': 'a\n' }).code).toBe(0);
    expect(prepare(B, 'copy', { 'a.txt': 'a\n', 'b.txt': 'b\n' }).code).toBe(0);
    expect(readdirSync(base()).sort()).toEqual([B, `${B}.manifest`, `${B}.stamp`]);
    const rel = path.join(root, 'releases', B, 'a.txt');
    expect(readFileSync(rel, 'utf8')).toBe('a\n');
    expect(statSync(rel).ino).not.toBe(statSync(base(B, 'a.txt')).ino);
    expect(readFileSync(path.join(root, '.ee-deploy/manifests', B), 'utf8')).toBe(readFileSync(base(`${B}.manifest`), 'utf8'));
    const st = open();
    expect(st.baseChanged).toBeUndefined();
    expect(st.manifest?.release).toBe(B);
    expect(parseManifest(st.manifest!.text!).entries.map((e) => e.path)).toEqual(['a.txt', 'b.txt']);
  });

  it('reuse: hardlink shares inodes with the base; reuse: none keeps no base', () => {
    open(); // creates the layout, as a deploy's first exec does
    expect(prepare(A, 'hardlink', { 'a.txt': 'a\n' }).code).toBe(0);
    expect(statSync(path.join(root, 'releases', A, 'a.txt')).ino).toBe(statSync(base(A, 'a.txt')).ino);
    expect(prepare(B, 'none', { 'a.txt': 'a\n' }).code).toBe(0);
    expect(readdirSync(base())).toEqual([]);
    expect(existsSync(path.join(root, '.ee-deploy/manifests', B))).toBe(true);
    expect(open().manifest).toBeUndefined();
  });

  it('open refuses a base changed after its upload (a write in place, an edited manifest) and removes it', () => {
    open(); // creates the layout, as a deploy's first exec does
    expect(prepare(A, 'copy', { 'a.txt': 'a\n', 'b.txt': 'b\n' }).code).toBe(0);
    const later = new Date(Date.now() + 5000);
    writeFileSync(base(A, 'b.txt'), 'tampered\n', { flag: 'a' });
    utimesSync(base(A, 'b.txt'), later, later);
    const st = open();
    expect(st.baseChanged).toEqual({ id: A, count: '1' });
    expect(st.manifest).toBeUndefined();
    expect(readdirSync(base())).toEqual([]);

    expect(prepare(B, 'copy', { 'a.txt': 'a\n' }).code).toBe(0);
    utimesSync(base(`${B}.manifest`), later, later);
    expect(open().baseChanged).toEqual({ id: B, count: '1' });
  });

  it('a file dated in the future (a client clock ahead of the server) does not make the base look changed', () => {
    open(); // creates the layout, as a deploy's first exec does
    const dir = mkdtempSync(path.join(tmp, 'future-'));
    const { text } = serializeManifest([{ path: 'a.txt', type: 'f', mode: 0o644, size: 2, hash: contentHash('a\n') }]);
    mkdirSync(path.join(dir, '.ee-deploy/base', A), { recursive: true });
    writeFileSync(path.join(dir, '.ee-deploy/base', A, 'a.txt'), 'a\n');
    writeFileSync(path.join(dir, '.ee-deploy/base', `${A}.manifest`), text);
    const future = new Date(Date.now() + 3600_000);
    utimesSync(path.join(dir, '.ee-deploy/base', A, 'a.txt'), future, future);
    const tar = spawnSync('tar', ['-cf', '-', '-C', dir, '.ee-deploy'], { encoding: 'buffer' }).stdout;
    const r = sh(prepareScript({ root, id: A, gzip: false, sharedDirs: [], sharedFiles: [], revision: 'r', revisionTime: 't', hooks: [], hookEnv: {}, reuse: 'copy' }), tar);
    expect(r.code, r.stderr).toBe(0);
    const st = open();
    expect(st.baseChanged).toBeUndefined();
    expect(st.manifest?.release).toBe(A);
  });

  it('sameAs: nothing changed, no archive: the release is a copy of the existing base; a base that is gone is an upload failure', () => {
    open();
    expect(prepare(A, 'copy', { 'a.txt': 'a\n' }).code).toBe(0);
    const same = (id: string, reuse: Reuse) => sh(prepareScript({ root, id, gzip: false, sharedDirs: [], sharedFiles: [], revision: 'r', revisionTime: 't', hooks: [], hookEnv: {}, reuse, sameAs: A }));
    const r = same(B, 'copy');
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(path.join(root, 'releases', B, 'a.txt'), 'utf8')).toBe('a\n');
    expect(statSync(path.join(root, 'releases', B, 'a.txt')).ino).not.toBe(statSync(base(A, 'a.txt')).ino);
    expect(readdirSync(base()).sort()).toEqual([A, `${A}.manifest`, `${A}.stamp`]);
    expect(readFileSync(path.join(root, '.ee-deploy/manifests', B), 'utf8')).toBe(readFileSync(base(`${A}.manifest`), 'utf8'));
    rmSync(base(`${A}.stamp`));
    const gone = same('20261122100000', 'copy');
    expect(gone.code).not.toBe(0);
    expect(failedInTar(gone)).toBe(true);
  });

  it('an upload that fails in tar leaves no base behind', () => {
    open(); // creates the layout, as a deploy's first exec does
    const r = sh(prepareScript({ root, id: A, gzip: false, sharedDirs: [], sharedFiles: [], revision: 'r', revisionTime: 't', hooks: [], hookEnv: {}, reuse: 'copy' }), Buffer.from('not a tar archive'));
    expect(r.code).not.toBe(0);
    expect(readdirSync(base())).toEqual([]);
  });
});

describe('manifest digest', () => {
  it('a body edited with the header kept is not the manifest', () => {
    const { text } = serializeManifest([{ path: 'a.txt', type: 'f', mode: 0o644, size: 2, hash: contentHash('a\n') }]);
    expect(parseManifest(text).entries).toHaveLength(1);
    expect(() => parseManifest(text.replace(contentHash('a\n'), contentHash('b\n')))).toThrow(ManifestError);
    expect(() => parseManifest(text.replace('a.txt', 'b.txt'))).toThrow(/does not match its digest/);
  });
});
