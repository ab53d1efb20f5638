/**
 * Entries of releases/ that are no release ee-deploy (or Capistrano) made: other names, a file,
 * a link (to a directory holding REVISION, outside the deploy path), a directory without
 * REVISION, a name carrying a line break and a forged tag. On a local and an SSH target they are
 * ignored and reported in one line, never counted for keep_releases, never pruned, never rolled
 * back to, never fatal: deploy and rollback complete (history written, lock released).
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, current, historyRecords, isLocked, jsonDoc, newProject, server } from '../helpers/deploy-env.js';
import { startSshd, type SshdFixture } from '../helpers/sshd.js';
import { treeSnapshot } from '../helpers/tree-snapshot.js';

let f: SshdFixture;
let tmp: string;

beforeAll(async () => {
  f = await startSshd({ servers: [server('web1')] });
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-foreign-'));
});

afterAll(async () => {
  await f?.stopAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const FORGED = 'evil\n@@ee release 20991231000000 0 forged';

function addForeign(root: string, outside: string): string[] {
  const r = path.join(root, 'releases');
  mkdirSync(path.join(r, '20240101-old'));
  mkdirSync(path.join(r, 'zz junk'));
  writeFileSync(path.join(r, 'a-file'), 'x\n');
  // half-made by hand: an id, but no REVISION (and older than every release)
  mkdirSync(path.join(r, '20200101000000'));
  writeFileSync(path.join(r, '20200101000000', 'index.html'), 'by hand\n');
  // a link to a directory that looks like a release, outside the deploy path
  symlinkSync(outside, path.join(r, '20210101000000'));
  mkdirSync(path.join(r, FORGED));
  // named after the last possible second, by hand: stepped over, it never sets the next id
  mkdirSync(path.join(r, '99991231235959'));
  return ['20200101000000', '20210101000000', '20240101-old', '99991231235959', 'a-file', FORGED, 'zz junk'].sort();
}

describe('foreign entries in releases/', () => {
  for (const target of ['local', 'ssh'] as const) {
    it(`${target}: ignored and reported; deploy, prune and rollback work around them`, async () => {
      const outside = path.join(tmp, `outside-${target}`);
      mkdirSync(outside);
      writeFileSync(path.join(outside, 'REVISION'), 'abc\n');
      writeFileSync(path.join(outside, 'index.html'), 'outside\n');
      const root = path.join(tmp, `root-${target}`);
      const p = newProject({ hosts: [{ host: target === 'local' ? 'local' : 'web1', path: root }], keep: 2 }, { 'index.html': 'v1\n' });
      const deploy = async (v: string) => {
        writeFileSync(path.join(p.app, 'index.html'), `${v}\n`);
        const r = await cli(f.home, p.dir, ['deploy', '--yes']);
        expect(r.code, r.stdout + r.stderr).toBe(0);
        return r;
      };
      await deploy('v1');
      const v1 = current(root)!;
      await new Promise((r) => setTimeout(r, 1000));
      await deploy('v2');
      const v2 = current(root)!;
      const foreign = addForeign(root, outside);
      const before = treeSnapshot(outside);
      await new Promise((r) => setTimeout(r, 1000));

      const r3 = await deploy('v3');
      const v3 = current(root)!;
      expect(v3).not.toBe(v2);
      const notes = r3.stdout.split('\n').filter((l) => l.includes('ignored in releases/'));
      expect(notes).toHaveLength(1);
      for (const n of ['20240101-old', 'zz junk', 'a-file', '20200101000000', '20210101000000', '99991231235959']) expect(notes[0]).toContain(JSON.stringify(n));
      expect(notes[0]).toContain('(a name with a line break)');
      expect(isLocked(root)).toBe(false);
      expect(historyRecords(root).filter((h) => h.action === 'deploy' && h.status === 'success').map((h) => h.id)).toEqual([v1, v2, v3]);
      // keep_releases 2 counts releases only: v1 pruned, every foreign entry still there
      expect(readdirSync(path.join(root, 'releases')).sort()).toEqual([...foreign, v2, v3].sort());

      const list = await cli(f.home, p.dir, ['releases', '--json']);
      expect(list.code, list.stderr).toBe(0);
      const host = jsonDoc(list.stdout).hosts[0];
      expect(host.releases.map((x: { id: string }) => x.id)).toEqual([v3, v2]);
      expect([...host.ignored].sort()).toEqual(['(a name with a line break)', ...foreign.filter((n) => n !== FORGED)].sort());

      const check = await cli(f.home, p.dir, ['check']);
      expect(check.code, check.stderr).toBe(0);
      expect(check.stdout).toContain('ignored in releases/');

      // rollback: to v2, never to the link, the hand-made dir or the forged name
      const rb = await cli(f.home, p.dir, ['rollback', '--yes']);
      expect(rb.code, rb.stdout + rb.stderr).toBe(0);
      expect(current(root)).toBe(v2);
      expect(isLocked(root)).toBe(false);
      const rb2 = await cli(f.home, p.dir, ['rollback', '--yes']);
      expect(rb2.code).toBe(1);
      expect(rb2.stderr).toMatch(/^error: .*no previous release to roll back to/);
      expect(current(root)).toBe(v2);
      for (const id of ['20200101000000', '20210101000000']) {
        const named = await cli(f.home, p.dir, ['rollback', id, '--yes']);
        expect(named.code, named.stderr).not.toBe(0);
        expect(named.stderr.trim().split('\n')).toHaveLength(1);
        expect(current(root)).toBe(v2);
      }
      expect(isLocked(root)).toBe(false);
      // verify never reads a link out of releases/ as a release
      const ver = await cli(f.home, p.dir, ['verify', '--release', '20210101000000']);
      expect(ver.code).toBe(7);
      expect(ver.stdout).toContain('release 20210101000000 does not exist');
      expect(treeSnapshot(outside)).toEqual(before);
      expect(readdirSync(path.join(root, 'releases')).sort()).toEqual([...foreign, v2, v3].sort());
    }, 60_000);
  }

  it('a real release named after the last possible second: one-line error, nothing changed, the lock given back', async () => {
    const root = path.join(tmp, 'root-last');
    const p = newProject({ hosts: [{ host: 'local', path: root }] }, { 'index.html': 'v1\n' });
    expect((await cli(f.home, p.dir, ['deploy', '--yes'])).code).toBe(0);
    const v1 = current(root);
    mkdirSync(path.join(root, 'releases', '99991231235959'));
    writeFileSync(path.join(root, 'releases', '99991231235959', 'REVISION'), 'abc\n');
    const r = await cli(f.home, p.dir, ['deploy', '--yes']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: no free release id after 99991231235959: a release in releases\/ is named after every possible time \(remove or rename it\)/);
    expect(current(root)).toBe(v1);
    expect(isLocked(root)).toBe(false);
  });
});
