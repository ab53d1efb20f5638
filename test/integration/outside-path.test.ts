/**
 * Nothing outside the deploy path is created, removed or written. A source symlink
 * `public -> <outside dir>` with a shared path under it (`public/uploads`, `public/robots.txt`)
 * is refused by name before any host is touched, on a local and an SSH target, and the outside
 * directory stays byte for byte as it was; the server script refuses such a release on its own
 * too (a tree the client did not check), before it removes or links anything.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finishScript } from '../../src/remote/steps/finish.js';
import { prepareScript } from '../../src/remote/steps/prepare.js';
import { LocalTransport } from '../../src/transport/local.js';
import { cli, newProject, server } from '../helpers/deploy-env.js';
import { startSshd, type SshdFixture } from '../helpers/sshd.js';
import { treeSnapshot } from '../helpers/tree-snapshot.js';

let f: SshdFixture;
let tmp: string;

beforeAll(async () => {
  f = await startSshd({ servers: [server('web1')] });
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-outside-'));
});

afterAll(async () => {
  await f?.stopAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** a directory outside every deploy path, with content a wrong `rm -rf` or `ln` would change */
function outsideDir(name: string): string {
  const d = path.join(tmp, name);
  mkdirSync(path.join(d, 'uploads', 'deep'), { recursive: true });
  writeFileSync(path.join(d, 'uploads', 'photo.jpg'), 'precious\n');
  writeFileSync(path.join(d, 'uploads', 'deep', 'x'), 'x\n');
  writeFileSync(path.join(d, 'robots.txt'), 'User-agent: *\n');
  return d;
}

const cases = [
  { name: 'shared dir', shared: { sharedDirs: ['public/uploads'] }, label: 'shared.dirs: public/uploads' },
  { name: 'shared file', shared: { sharedFiles: ['public/robots.txt'] }, label: 'shared.files: public/robots.txt' },
];

describe('a shared path under a source symlink that leads outside', () => {
  for (const target of ['local', 'ssh'] as const) {
    for (const c of cases) {
      it(`${target}, ${c.name}: refused before anything changes (exit 2, one line); the outside dir is byte-identical`, async () => {
        const outside = outsideDir(`out-${target}-${c.name.replace(' ', '-')}`);
        const before = treeSnapshot(outside);
        const root = path.join(tmp, `root-${target}-${c.name.replace(' ', '-')}`);
        const p = newProject({ hosts: [{ host: target === 'local' ? 'local' : 'web1', path: root }], ...c.shared });
        symlinkSync(outside, path.join(p.app, 'public'));
        const r = await cli(f.home, p.dir, ['deploy', '--yes']);
        expect(r.code, r.stdout + r.stderr).toBe(2);
        const errors = r.stderr.trim().split('\n');
        expect(errors).toHaveLength(1);
        expect(errors[0]).toMatch(/^error: .*ee-deploy\.yaml: shared\.(dirs|files): public\/\S+ lies under public, which is a symlink in source\.dir; a shared path must lie under real directories of the release$/);
        expect(errors[0]).toContain(c.label.split(': ')[1]);
        expect(treeSnapshot(outside)).toEqual(before);
        // nothing was touched on the target either
        expect(existsSync(root)).toBe(false);
      });
    }
  }

  it('a shared path inside another shared path is refused (the second link would remove the first one\'s content)', async () => {
    const root = path.join(tmp, 'root-nested');
    const p = newProject({ hosts: [{ host: 'local', path: root }], sharedDirs: ['public'], sharedFiles: ['public/robots.txt'] });
    const r = await cli(f.home, p.dir, ['deploy', '--yes']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim()).toMatch(/^error: .*: shared\.files: public\/robots\.txt lies inside the shared dir public; list only public$/);
    expect(existsSync(root)).toBe(false);
  });

  for (const c of cases) {
    it(`the server script refuses such a release by itself (${c.name}): staging removed, nothing linked, outside unchanged`, async () => {
      const outside = outsideDir(`out-script-${c.name.replace(' ', '-')}`);
      const before = treeSnapshot(outside);
      const src = path.join(tmp, `src-script-${c.name.replace(' ', '-')}`);
      mkdirSync(src);
      writeFileSync(path.join(src, 'index.html'), 'v1\n');
      symlinkSync(outside, path.join(src, 'public'));
      const archive = execFileSync('tar', ['-cf', '-', '-C', src, '.']);
      const root = path.join(tmp, `root-script-${c.name.replace(' ', '-')}`);
      mkdirSync(path.join(root, 'releases'), { recursive: true });
      const id = '20260101000000';
      const script = prepareScript({ root, id, gzip: false, sharedDirs: c.shared.sharedDirs ?? [], sharedFiles: c.shared.sharedFiles ?? [], revision: 'r', revisionTime: 't', hooks: [], hookEnv: {} });
      const r = await new LocalTransport().exec(script, { stdin: archive });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`@@ee failed ${c.label.replace(': ', ' ').replace('.dirs', ' dir').replace('.files', ' file')}: public in the release is a symlink or a file, not a directory`);
      expect(treeSnapshot(outside)).toEqual(before);
      expect(readdirSync(path.join(root, 'releases'))).toEqual([]);
      expect(readdirSync(path.join(root, '.ee-deploy', 'staging'))).toEqual([]);
    });
  }

  it('marking a release BAD_RELEASE never writes through a link (a marker that is a link, a release dir that is a link)', async () => {
    const outside = outsideDir('out-bad');
    const before = treeSnapshot(outside);
    const root = path.join(tmp, 'root-bad');
    const a = '20260101000001';
    const b = '20260101000002';
    mkdirSync(path.join(root, 'releases', a), { recursive: true });
    symlinkSync(path.join(outside, 'robots.txt'), path.join(root, 'releases', a, 'BAD_RELEASE'));
    symlinkSync(outside, path.join(root, 'releases', b));
    const t = new LocalTransport();
    expect((await t.exec(finishScript({ root, markBad: { id: a, text: 'now,alice' } }))).code).toBe(0);
    await t.exec(finishScript({ root, markBad: { id: b, text: 'now,alice' } }));
    expect(treeSnapshot(outside)).toEqual(before);
    expect(lstatSync(path.join(root, 'releases', a, 'BAD_RELEASE')).isFile()).toBe(true);
    expect(existsSync(path.join(outside, 'BAD_RELEASE'))).toBe(false);
  });
});
