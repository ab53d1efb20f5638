/**
 * Incremental releases (manifest + the upload base under .ee-deploy/base), independence of
 * releases, and the number of remote execs per deploy / rollback over a real OpenSSH server.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lineHash } from '../../src/audit/chain.js';
import { cli, current, newProject, releases, server } from '../helpers/deploy-env.js';
import { startSshd, type SshdFixture } from '../helpers/sshd.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-incr-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const ino = (p: string) => statSync(p).ino;
const read = (p: string) => readFileSync(p, 'utf8');
const home = () => path.join(tmp, 'home');

describe('incremental releases (host: local)', () => {
  it('sends only what changed, copies the rest on the server, keeps manifests and the upload base outside the releases', async () => {
    const root = path.join(tmp, 'local1');
    const files = { 'index.html': '<h1>v1</h1>\n', 'lib/app.js': 'one\n', 'lib/same.js': 'same\n', 'old.txt': 'old\n' };
    const p = newProject({ hosts: [{ host: 'local', path: root }], keep: 2 }, files, tmp);
    const env = { EE_DEPLOY_CACHE_DIR: path.join(tmp, 'cache1') };
    let r = await cli(home(), p.dir, ['deploy'], { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [a] = releases(root);
    const A = (f: string) => path.join(root, 'releases', a, f);
    const revisionA = read(A('REVISION'));

    writeFileSync(path.join(p.app, 'lib/app.js'), 'two\n');
    unlinkSync(path.join(p.app, 'old.txt'));
    writeFileSync(path.join(p.app, 'new.txt'), 'new\n');
    r = await cli(home(), p.dir, ['deploy'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/uploading 2 changed of 4 files .* 2 unchanged, copied on the server/);
    const b = current(root)!;
    expect(b).not.toBe(a);
    const B = (f: string) => path.join(root, 'releases', b, f);

    // every release has its own files (unchanged ones are copies); A is untouched
    expect(ino(B('lib/same.js'))).not.toBe(ino(A('lib/same.js')));
    expect(read(B('lib/same.js'))).toBe('same\n');
    expect(ino(B('index.html'))).not.toBe(ino(A('index.html')));
    expect(ino(B('lib/app.js'))).not.toBe(ino(A('lib/app.js')));
    expect(read(A('lib/app.js'))).toBe('one\n');
    expect(read(B('lib/app.js'))).toBe('two\n');
    expect(existsSync(B('old.txt'))).toBe(false);
    expect(read(A('old.txt'))).toBe('old\n');
    expect(read(B('new.txt'))).toBe('new\n');
    // REVISION is replaced, never written through a link
    expect(ino(B('REVISION'))).not.toBe(ino(A('REVISION')));
    expect(read(A('REVISION'))).toBe(revisionA);
    // a release holds only the upload + REVISION files; manifests live under .ee-deploy/
    expect(readdirSync(path.join(root, 'releases', b)).sort()).toEqual(['REVISION', 'REVISION_TIME', 'index.html', 'lib', 'new.txt']);
    expect(readdirSync(path.join(root, '.ee-deploy/manifests')).sort()).toEqual([a, b].sort());

    // nothing changed: nothing sent; keep_releases 2 prunes A and its manifest; one upload base
    r = await cli(home(), p.dir, ['deploy'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/uploading 0 changed of 4 files/);
    const c = current(root)!;
    expect(releases(root)).toEqual([b, c]);
    expect(readdirSync(path.join(root, '.ee-deploy/manifests')).sort()).toEqual([b, c]);
    expect(statSync(path.join(root, 'releases', c, 'lib/app.js')).nlink).toBe(1);
    expect(read(path.join(root, '.ee-deploy/manifests', c))).toBe(read(path.join(root, '.ee-deploy/manifests', b)));
    // nothing to upload: the release is a copy of the base as it is (no archive at all)
    expect(readdirSync(path.join(root, '.ee-deploy/base')).sort()).toEqual([b, `${b}.manifest`, `${b}.stamp`]);
    expect(read(path.join(root, '.ee-deploy/base', b, 'lib/app.js'))).toBe('two\n');
    expect(readdirSync(path.join(root, 'releases', c)).sort()).toEqual(['REVISION', 'REVISION_TIME', 'index.html', 'lib', 'new.txt']);
    expect(read(path.join(root, 'releases', c, 'lib/app.js'))).toBe('two\n');
  });

  it('a manifest over 1 MiB printed by open (no local copy) still leaves the lock and state readable', async () => {
    const root = path.join(tmp, 'local-big');
    const files: Record<string, string> = {};
    const dir = `d${'x'.repeat(200)}`;
    for (let i = 0; i < 3000; i++) files[`${dir}/f${'y'.repeat(200)}-${i}.txt`] = `${i}\n`;
    const p = newProject({ hosts: [{ host: 'local', path: root }] }, files, tmp);
    const cache = path.join(tmp, 'cache-big');
    expect((await cli(home(), p.dir, ['deploy'], { env: { EE_DEPLOY_CACHE_DIR: cache } })).code).toBe(0);
    const [a] = releases(root);
    expect(statSync(path.join(root, '.ee-deploy/manifests', a)).size).toBeGreaterThan(1.2 * 1024 * 1024);
    rmSync(path.join(cache, 'manifests'), { recursive: true, force: true }); // as on another machine
    writeFileSync(path.join(p.app, dir, `f${'y'.repeat(200)}-7.txt`), 'changed\n');
    const r = await cli(home(), p.dir, ['deploy'], { env: { EE_DEPLOY_CACHE_DIR: cache } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/uploading 1 changed of 3000 files/);
  });

  it('a file a hook created in one release is not carried into the next; replacing a file leaves the old release alone', async () => {
    const root = path.join(tmp, 'local2');
    const p = newProject(
      {
        hosts: [{ host: 'local', path: root }],
        // stamp.txt is not part of the upload; data.txt is replaced the safe way (new file + rename)
        hooks: { before_switch: ['test ! -e stamp.txt', 'echo "$EE_RELEASE" > stamp.txt', 'printf "%s\\n" "$EE_RELEASE" > data.tmp && mv data.tmp data.txt'] },
      },
      { 'data.txt': 'original\n', 'index.html': 'x\n' },
      tmp,
    );
    const env = { EE_DEPLOY_CACHE_DIR: path.join(tmp, 'cache2') };
    expect((await cli(home(), p.dir, ['deploy'], { env })).code).toBe(0);
    const a = current(root)!;
    await new Promise((r) => setTimeout(r, 1100));
    const r = await cli(home(), p.dir, ['deploy'], { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const b = current(root)!;
    expect(read(path.join(root, 'releases', a, 'stamp.txt'))).toBe(`${a}\n`);
    expect(read(path.join(root, 'releases', b, 'stamp.txt'))).toBe(`${b}\n`);
    expect(read(path.join(root, 'releases', a, 'data.txt'))).toBe(`${a}\n`);
    expect(read(path.join(root, 'releases', b, 'data.txt'))).toBe(`${b}\n`);
    expect(ino(path.join(root, 'releases', b, 'index.html'))).not.toBe(ino(path.join(root, 'releases', a, 'index.html')));
  });

  it('source.reuse: none uploads everything every time and keeps no upload base', async () => {
    const root = path.join(tmp, 'local3');
    const p = newProject({ hosts: [{ host: 'local', path: root }], hooks: { before_switch: ['echo "appended by $EE_RELEASE" >> lib/app.js'] } }, { 'lib/app.js': 'one\n' }, tmp);
    writeFileSync(p.config, read(p.config).replace('  dir: ./app\n', '  dir: ./app\n  reuse: none\n'));
    const env = { EE_DEPLOY_CACHE_DIR: path.join(tmp, 'cache3') };
    expect((await cli(home(), p.dir, ['deploy'], { env })).code).toBe(0);
    const a = current(root)!;
    await new Promise((r) => setTimeout(r, 1100));
    const r = await cli(home(), p.dir, ['deploy'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/uploading 1 files/);
    const b = current(root)!;
    expect(read(path.join(root, 'releases', a, 'lib/app.js'))).toBe(`one\nappended by ${a}\n`);
    expect(read(path.join(root, 'releases', b, 'lib/app.js'))).toBe(`one\nappended by ${b}\n`);
    expect(readdirSync(path.join(root, '.ee-deploy/base'))).toEqual([]);
  });
});

describe('over ssh', () => {
  let f: SshdFixture;
  beforeAll(async () => {
    f = await startSshd({ servers: [server('web1'), server('web2')] });
  });
  afterAll(async () => {
    await f?.stopAll();
  });

  const sessions = async (i: number) => f.servers[i].count('Starting session');

  it('a deploy is at most 4 execs per host; a redeploy sends the changes only, with or without the manifest cached', async () => {
    const roots = [path.join(tmp, 'ssh-a'), path.join(tmp, 'ssh-b')];
    const files: Record<string, string> = { 'index.html': 'v1\n' };
    for (let i = 0; i < 50; i++) files[`lib/m${i}.js`] = `module ${i}\n`.repeat(50);
    const p = newProject({ hosts: [{ host: 'web1', path: roots[0] }, { host: 'web2', path: roots[1] }] }, files, tmp);
    const cache = path.join(tmp, 'cache-ssh');
    const env = { EE_DEPLOY_CACHE_DIR: cache };

    let before = [await sessions(0), await sessions(1)];
    let r = await cli(f.home, p.dir, ['deploy'], { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    await new Promise((res) => setTimeout(res, 200)); // sshd writes its log lines asynchronously
    expect([(await sessions(0)) - before[0], (await sessions(1)) - before[1]]).toEqual([4, 4]);

    writeFileSync(path.join(p.app, 'lib/m7.js'), 'changed\n');
    before = [await sessions(0), await sessions(1)];
    r = await cli(f.home, p.dir, ['deploy'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/uploading 1 changed of 51 files/);
    await new Promise((res) => setTimeout(res, 200));
    expect([(await sessions(0)) - before[0], (await sessions(1)) - before[1]]).toEqual([4, 4]);
    for (const root of roots) {
      const [x, y] = releases(root);
      expect(ino(path.join(root, 'releases', y, 'lib/m1.js'))).not.toBe(ino(path.join(root, 'releases', x, 'lib/m1.js')));
      expect(read(path.join(root, 'releases', y, 'lib/m1.js'))).toBe(files['lib/m1.js']);
      expect(read(path.join(root, 'current/lib/m7.js'))).toBe('changed\n');
    }

    // another machine (no local cache): the manifest comes with `open`, still incremental
    rmSync(cache, { recursive: true, force: true });
    writeFileSync(path.join(p.app, 'lib/m8.js'), 'changed too\n');
    r = await cli(f.home, p.dir, ['deploy'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/uploading 1 changed of 51 files/);
    expect(read(path.join(roots[1], 'current/lib/m8.js'))).toBe('changed too\n');
  });

  it('compress: auto on plain loopback measures a fast link: the upload (dry run) is not compressed', async () => {
    const root = path.join(tmp, 'ssh-gz');
    const p = newProject({ hosts: [{ host: 'web1', path: root }] }, { 'index.html': 'v1\n' }, tmp);
    const r = await cli(f.home, p.dir, ['deploy', '--dry-run'], { env: { EE_DEPLOY_CACHE_DIR: path.join(tmp, 'cache-gz') } });
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).toContain('tar -xf - -C "$R"');
    expect(r.stdout + r.stderr).not.toContain('tar -xzf');
  });

  it('a rollback (one host, --yes, no post checks) is a single exec', async () => {
    const root = path.join(tmp, 'ssh-rb');
    const p = newProject({ hosts: [{ host: 'web1', path: root }] }, { 'index.html': 'v1\n' }, tmp);
    const env = { EE_DEPLOY_CACHE_DIR: path.join(tmp, 'cache-rb') };
    expect((await cli(f.home, p.dir, ['deploy'], { env })).code).toBe(0);
    writeFileSync(path.join(p.app, 'index.html'), 'v2\n');
    expect((await cli(f.home, p.dir, ['deploy'], { env })).code).toBe(0);
    const [a] = releases(root);
    await new Promise((res) => setTimeout(res, 200));
    const before = await sessions(0);
    const r = await cli(f.home, p.dir, ['rollback', '--yes'], { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(current(root)).toBe(a);
    await new Promise((res) => setTimeout(res, 200));
    expect((await sessions(0)) - before).toBe(1);
    expect(r.stdout + r.stderr).toContain(`web1: ${releases(root)[1]} -> ${a}`);
    // the line written inside that exec is chained after the deploys and signed with the
    // connection's key: ssh-keygen -Y verify and audit verify accept it
    const hist = read(path.join(root, '.ee-deploy', 'history.jsonl')).trim().split('\n');
    expect(hist).toHaveLength(3);
    const line = JSON.parse(hist[2]) as Record<string, unknown>;
    expect(line).toMatchObject({ action: 'rollback', status: 'success', id: a, from: releases(root)[1], prev: lineHash(hist[1]) });
    expect(line.commit).toBe(read(path.join(root, 'releases', a, 'REVISION')).trim());
    expect(read(path.join(root, 'revisions.log'))).toMatch(new RegExp(`rolled back to release ${a}\n$`));
    const signers = path.join(tmp, 'allowed_signers_rb');
    writeFileSync(signers, `deployer@ci namespaces="ee-deploy" ${f.clientKeyPublic.trim()}\n`);
    const sigFile = path.join(tmp, 'rb.sig');
    writeFileSync(sigFile, `${String(line.sig)}\n`);
    const at = hist[2].lastIndexOf(',"sig":"');
    const ok = execFileSync('ssh-keygen', ['-Y', 'verify', '-f', signers, '-I', 'deployer@ci', '-n', 'ee-deploy', '-s', sigFile], { input: `${hist[2].slice(0, at)}}`, encoding: 'utf8' });
    expect(ok).toMatch(/Good "ee-deploy" signature for deployer@ci/);
    writeFileSync(p.config, `audit: { allowed_signers: ${signers} }\n${read(p.config)}`);
    const v = await cli(f.home, p.dir, ['audit', 'verify'], { env: { ...env, XDG_STATE_HOME: path.join(tmp, 'state-rb') } });
    expect(v.stdout + v.stderr).toBe('web1: 3 lines intact (signed by deployer@ci)\n');
    expect(v.code).toBe(0);
  });
});
