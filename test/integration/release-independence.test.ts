/**
 * A release holds exactly a full upload of its source, whatever hooks, people or apps did to other
 * releases, and a write in place into one release never changes another. Over `host: local` and
 * over a real OpenSSH server; `source.reuse: hardlink` (the opt-in) shows its shared inodes.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, current, newProject, releases, server, type Project } from '../helpers/deploy-env.js';
import { startSshd, type SshdFixture } from '../helpers/sshd.js';

let tmp: string;
let f: SshdFixture;
beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-indep-'));
  f = await startSshd({ servers: [server('web1')] });
});
afterAll(async () => {
  await f?.stopAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

type Tree = Map<string, Buffer>;

/** every regular file under dir (relative path -> bytes); symlinks and REVISION files left out */
function snapshot(dir: string, skip: string[] = []): Tree {
  const out: Tree = new Map();
  const walk = (rel: string) => {
    for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (skip.includes(r)) continue;
      if (e.isDirectory()) walk(r);
      else if (e.isFile()) out.set(r, readFileSync(path.join(dir, r)));
    }
  };
  walk('');
  return out;
}

const releaseTree = (root: string, id: string) => snapshot(path.join(root, 'releases', id), ['REVISION', 'REVISION_TIME']);

/** byte-for-byte equality, with the first difference named */
function expectSame(actual: Tree, expected: Tree, what: string): void {
  expect([...actual.keys()].sort(), `${what}: file list`).toEqual([...expected.keys()].sort());
  for (const [p, b] of expected) expect(actual.get(p)!.equals(b), `${what}: ${p} is ${JSON.stringify(actual.get(p)!.toString())}, expected ${JSON.stringify(b.toString())}`).toBe(true);
}

const hash = (b: Buffer | string) => createHash('sha256').update(b).digest().subarray(0, 16).toString('base64url');

/** every manifest file on the server (wherever ee-deploy keeps them) */
function serverManifests(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && readFileSync(p, 'utf8').startsWith('#ee-manifest 1 ')) out.push(p);
    }
  };
  walk(path.join(root, '.ee-deploy'));
  return out;
}

const targets = [
  { name: 'host: local', host: () => 'local', home: () => path.join(tmp, 'home') },
  { name: 'ssh', host: () => 'web1', home: () => f.home },
];

describe.each(targets)('release independence ($name)', (t) => {
  let n = 0;
  const setup = (files: Record<string, string>, hooks: string[] = [], reuse?: string) => {
    const root = path.join(tmp, `${t.host()}-${++n}`);
    const p = newProject({ hosts: [{ host: t.host(), path: root }], keep: 10, hooks: { before_switch: hooks } }, files, tmp);
    if (reuse) writeFileSync(p.config, readFileSync(p.config, 'utf8').replace('  dir: ./app\n', `  dir: ./app\n  reuse: ${reuse}\n`));
    const cache = path.join(tmp, `cache-${t.host()}-${n}`);
    const deploy = async (freshCache = false) => {
      if (freshCache) rmSync(cache, { recursive: true, force: true });
      const r = await cli(t.home(), p.dir, ['deploy'], { env: { EE_DEPLOY_CACHE_DIR: cache } });
      expect(r.stderr, r.stdout).toBe('');
      expect(r.code, r.stdout).toBe(0);
      return { ...r, id: current(root)! };
    };
    return { root, p, deploy };
  };
  const src = (p: Project) => snapshot(p.app);

  it('a before_switch hook editing a file with sed -i: every release is the source plus its own edit, never a previous edit', async () => {
    const { root, p, deploy } = setup({ 'config.txt': 'mode=prod\n', 'index.html': 'hi\n' }, [`sed -i 's/$/ [patched]/' config.txt`]);
    const expected = src(p);
    expected.set('config.txt', Buffer.from('mode=prod [patched]\n'));
    for (let i = 0; i < 3; i++) await deploy();
    const ids = releases(root);
    expect(ids).toHaveLength(3);
    for (const id of ids) expectSame(releaseTree(root, id), expected, `release ${id}`);
  });

  it('a manifest edited on the server (body changed, header kept) cannot make the client skip a changed file', async () => {
    const { root, p, deploy } = setup({ 'lib/app.js': 'one\n', 'index.html': 'hi\n' });
    await deploy();
    writeFileSync(path.join(p.app, 'lib/app.js'), 'two\n');
    // someone makes every manifest on the server claim the new content
    const manifests = serverManifests(root);
    expect(manifests.length).toBeGreaterThan(0);
    for (const m of manifests) {
      const text = readFileSync(m, 'utf8');
      const edited = text.replace(/^f (\d+) \d+ \S+ lib\/app\.js$/m, (_l, mode: string) => `f ${mode} 4 ${hash('two\n')} lib/app.js`);
      expect(edited).not.toBe(text);
      writeFileSync(m, edited);
    }
    const r = await deploy(true); // a machine without its own copy of the manifest
    expect(readFileSync(path.join(root, 'current/lib/app.js'), 'utf8')).toBe('two\n');
    expectSame(releaseTree(root, r.id), src(p), 'live release');
  });

  it('appending a byte to every file of one release changes no other release, and the next release is still the source', async () => {
    const { root, p, deploy } = setup({ 'a.txt': 'a\n', 'lib/b.js': 'b\n', 'lib/c.js': 'c\n', 'big.bin': 'x'.repeat(300_000) });
    const sources: Tree[] = [];
    const ids: string[] = [];
    for (const change of ['', 'lib/b.js', 'a.txt']) {
      if (change) writeFileSync(path.join(p.app, change), `changed ${change}\n`);
      sources.push(src(p));
      ids.push((await deploy()).id);
    }
    // in place: the same inode, opened for append (as `>>` in a hook or an app's log would)
    const writeInto = (id: string) => {
      const tree = releaseTree(root, id);
      for (const rel of tree.keys()) appendFileSync(path.join(root, 'releases', id, rel), '!');
      return new Map([...tree].map(([k, v]) => [k, Buffer.concat([v, Buffer.from('!')])]));
    };
    const middle = writeInto(ids[1]);
    expectSame(releaseTree(root, ids[0]), sources[0], 'release 1');
    expectSame(releaseTree(root, ids[2]), sources[2], 'release 3');
    expectSame(releaseTree(root, ids[1]), middle, 'release 2 (written into)');

    // the live release written into, then a deploy with nothing changed: the new release is the source
    writeInto(ids[2]);
    const next = await deploy();
    expectSame(releaseTree(root, next.id), sources[2], 'release 4');
    expectSame(releaseTree(root, ids[0]), sources[0], 'release 1 after the next deploy');
    // and a write into the new release leaves the older ones as they were
    writeInto(next.id);
    expectSame(releaseTree(root, ids[0]), sources[0], 'release 1 after writing into release 4');
    expectSame(releaseTree(root, ids[1]), middle, 'release 2 after writing into release 4');
  });

  it('reuse: hardlink (opt-in) shares inodes between releases: a write in place shows in every release sharing the file; the next upload is still the source', async () => {
    const { root, p, deploy } = setup({ 'a.txt': 'a\n', 'b.txt': 'b\n' }, [], 'hardlink');
    const first = await deploy();
    writeFileSync(path.join(p.app, 'b.txt'), 'b2\n');
    const second = await deploy();
    expect(second.stdout).toMatch(/1 unchanged, hard-linked/);
    const A = (id: string, f: string) => path.join(root, 'releases', id, f);
    expect(statSync(A(first.id, 'a.txt')).ino).toBe(statSync(A(second.id, 'a.txt')).ino);
    // the documented risk: an append in one release is in the other too
    appendFileSync(A(second.id, 'a.txt'), '!');
    expect(readFileSync(A(first.id, 'a.txt'), 'utf8')).toBe('a\n!');
    // ee-deploy notices its base changed and uploads everything: the new release is the source
    const third = await deploy();
    expect(third.stdout).toMatch(/changed on the server/);
    expectSame(releaseTree(root, third.id), src(p), 'release after the write');
    expect(lstatSync(A(third.id, 'a.txt')).ino).not.toBe(statSync(A(second.id, 'a.txt')).ino);
  });
});
