/**
 * The core deploy over a real OpenSSH server, driving the built CLI. The test sshd runs on this
 * machine (logging in as the test user `ee-test`, uid 0), so the "remote" deploy path is a local
 * temp dir whose tree the tests read.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshd, type SshdFixture } from '../helpers/sshd.js';
import { cli, server, current, currentLink, historyRecords, isLocked, isSymlink, jsonDoc, newProject, RELEASE, releases, revisionsLog } from '../helpers/deploy-env.js';

let f: SshdFixture;
let tmp: string;

beforeAll(async () => {
  f = await startSshd({ servers: [server('web1'), server('stranger', { knownHosts: 'omit' }), server('impostor', { knownHosts: 'changed' })] });
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-deploy-ssh-'));
});

afterAll(async () => {
  await f?.stopAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const remote = (name: string) => path.join(tmp, name);

describe('deploy over ssh', () => {
  it('creates the Capistrano layout, links shared paths, records history and releases the lock', async () => {
    const root = remote('first');
    const p = newProject(
      { hosts: [{ host: 'web1', path: root }], sharedDirs: ['storage', 'logs/app'], sharedFiles: ['.env', 'config/db.yml'], exclude: ['*.log', 'node_modules'] },
      { 'index.html': '<h1>v1</h1>\n', 'lib/app.js': 'x\n', 'debug.log': 'no\n', 'node_modules/x/i.js': 'no\n', 'storage/old.txt': 'replaced by the link\n' },
    );
    const r = await cli(f.home, p.dir, ['deploy', '-m', 'first one']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // the output says what exclude removed, so a default exclude never silently drops a build's output
    expect(r.stdout).toContain('exclude removed: *.log -> 1 file, node_modules -> 1 file (1 dir)');

    const ids = releases(root);
    expect(ids).toHaveLength(1);
    const id = ids[0];
    expect(id).toMatch(/^\d{14}$/);
    // current: a relative symlink
    expect(isSymlink(path.join(root, 'current'))).toBe(true);
    expect(currentLink(root)).toBe(`releases/${id}`);
    expect(readFileSync(path.join(root, 'current', 'index.html'), 'utf8')).toBe('<h1>v1</h1>\n');

    // the release holds exactly the upload (minus excludes), the shared links and REVISION files
    const rel = path.join(root, 'releases', id);
    expect(readdirSync(rel).sort()).toEqual(['.env', 'REVISION', 'REVISION_TIME', 'config', 'index.html', 'lib', 'logs', 'storage'].sort());
    expect(readdirSync(path.join(rel, 'logs'))).toEqual(['app']);
    expect(readdirSync(path.join(rel, 'config'))).toEqual(['db.yml']);
    expect(readlinkSync(path.join(rel, 'storage'))).toBe('../../shared/storage');
    expect(readlinkSync(path.join(rel, 'logs/app'))).toBe('../../../shared/logs/app');
    expect(readlinkSync(path.join(rel, '.env'))).toBe('../../shared/.env');
    expect(readlinkSync(path.join(rel, 'config/db.yml'))).toBe('../../../shared/config/db.yml');
    for (const d of ['storage', 'logs/app']) expect(statSync(path.join(root, 'shared', d)).isDirectory()).toBe(true);
    for (const file of ['.env', 'config/db.yml']) expect(statSync(path.join(root, 'shared', file)).isFile()).toBe(true);
    expect(realpathSync(path.join(rel, 'storage'))).toBe(realpathSync(path.join(root, 'shared/storage')));

    // REVISION: a content hash that cannot pass for a commit (not a git checkout); REVISION_TIME: an ISO time
    const revision = readFileSync(path.join(rel, 'REVISION'), 'utf8').trim();
    expect(revision).toMatch(/^content-[0-9a-f]{16}$/);
    expect(Date.parse(readFileSync(path.join(rel, 'REVISION_TIME'), 'utf8').trim())).not.toBeNaN();

    // revisions.log in Capistrano's wording
    expect(revisionsLog(root)).toEqual([`Branch HEAD (at ${revision}) deployed as release ${id} by alice`]);
    // history.jsonl
    const hist = historyRecords(root);
    expect(hist).toHaveLength(1);
    expect(hist[0]).toMatchObject({ id, action: 'deploy', status: 'success', user: 'alice', env: 'production', commit: revision, message: 'first one', hosts: ['web1'] });
    // lock released, staging empty
    expect(isLocked(root)).toBe(false);
    expect(readdirSync(path.join(root, '.ee-deploy', 'staging'))).toEqual([]);
    // the project is registered under the fake HOME
    const registry = JSON.parse(readFileSync(path.join(f.home, '.config', 'ee-deploy', 'projects.json'), 'utf8')) as Record<string, string>;
    expect(registry.shop).toBe(p.config);
    // progress lines name the release
    expect(r.stdout).toContain(`shop ${id} is live on production`);
  });

  it('redeploys and prunes to keep_releases, never the current release', async () => {
    const root = remote('prune');
    const p = newProject({ hosts: [{ host: 'web1', path: root }], keep: 2 });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await cli(f.home, p.dir, ['deploy']);
      expect(r.code, r.stderr).toBe(0);
      ids.push(current(root)!);
    }
    expect(new Set(ids).size).toBe(3);
    for (const id of ids) expect(id).toMatch(RELEASE);
    // sorted by name = sorted by age, even within one second (suffixes)
    expect([...ids].sort()).toEqual(ids);
    expect(releases(root)).toEqual(ids.slice(1));
    expect(current(root)).toBe(ids[2]);
    expect(historyRecords(root).map((h) => h.status)).toEqual(['success', 'success', 'success']);
    expect(revisionsLog(root)).toHaveLength(3);

    // roll back to the oldest kept release, then deploy with keep_releases 1: only the new one stays
    const rb = await cli(f.home, p.dir, ['rollback', '--yes']);
    expect(rb.code, rb.stderr).toBe(0);
    expect(current(root)).toBe(ids[1]);
    p.write({ hosts: [{ host: 'web1', path: root }], keep: 1 });
    const r = await cli(f.home, p.dir, ['deploy', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = jsonDoc(r.stdout);
    expect(releases(root)).toEqual([doc.release]);
    expect(doc.hosts[0].pruned.sort()).toEqual(ids.slice(1).sort());
  });

  it('--dry-run prints the remote commands and changes nothing', async () => {
    const fresh = remote('dry-fresh');
    const p = newProject({ hosts: [{ host: 'web1', path: fresh }], sharedDirs: ['storage'] });
    const r = await cli(f.home, p.dir, ['deploy', '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('[dry-run] web1:');
    expect(r.stdout).toMatch(/tar -xz?f - -C "\$[SR]"/);
    expect(r.stdout).toContain(`R=${fresh}`);
    expect(r.stdout).toContain('(stdin: release archive)');
    expect(r.stdout).toContain('nothing was changed');
    expect(existsSync(fresh)).toBe(false);

    // on a deployed tree: same releases, same current, same history, no lock
    const root = remote('dry');
    p.write({ hosts: [{ host: 'web1', path: root }] });
    expect((await cli(f.home, p.dir, ['deploy'])).code).toBe(0);
    const before = { rel: releases(root), cur: current(root), hist: historyRecords(root).length, rev: revisionsLog(root).length };
    const d = await cli(f.home, p.dir, ['deploy', '--dry-run']);
    expect(d.code, d.stderr).toBe(0);
    const rb = await cli(f.home, p.dir, ['rollback', '--dry-run']);
    // no previous release: the plan fails, nothing is touched
    expect(rb.code).toBe(1);
    expect({ rel: releases(root), cur: current(root), hist: historyRecords(root).length, rev: revisionsLog(root).length }).toEqual(before);
    expect(isLocked(root)).toBe(false);
  });

  it('--json prints exactly one JSON document on stdout', async () => {
    const root = remote('json');
    const p = newProject({ hosts: [{ host: 'web1', path: root }] });
    const r = await cli(f.home, p.dir, ['deploy', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = jsonDoc(r.stdout);
    expect(doc).toMatchObject({ ok: true, action: 'deploy', project: 'shop', env: 'production', status: 'success', user: 'alice' });
    expect(doc.release).toBe(current(root));
    expect(doc.hosts).toEqual([expect.objectContaining({ host: 'web1', state: 'deployed', current: doc.release })]);
    expect(r.stdout.trim().startsWith('{')).toBe(true);
    expect(r.stdout.trim().endsWith('}')).toBe(true);

    // a failure is one JSON document too (and one `error:` line on stderr)
    p.write({ hosts: [{ host: 'web1', path: root }], hooks: { before_switch: ['exit 3'] } });
    const bad = await cli(f.home, p.dir, ['deploy', '--json']);
    expect(bad.code).toBe(1);
    const err = jsonDoc(bad.stdout);
    expect(err).toMatchObject({ ok: false, exitCode: 1 });
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/^error: /);
  });

  it('quotes a deploy path with spaces, quotes and $(...) and executes nothing', async () => {
    const marker = path.join(tmp, 'pwned');
    const weird = remote(`we ird 'single' "double" $(touch ${marker}) \`touch ${marker}2\` $HOME;x`);
    const p = newProject({ hosts: [{ host: 'web1', path: weird }], sharedDirs: ["it's dir"], sharedFiles: ['$(touch x).env'], hooks: { before_switch: ['test -f index.html'] } });
    const r = await cli(f.home, p.dir, ['deploy']);
    expect(r.code, r.stderr).toBe(0);
    const id = current(weird)!;
    expect(id).toMatch(/^\d{14}$/);
    expect(readFileSync(path.join(weird, 'current', 'index.html'), 'utf8')).toBe('<h1>v1</h1>\n');
    expect(isSymlink(path.join(weird, 'current', "it's dir"))).toBe(true);
    expect(existsSync(path.join(weird, 'shared', '$(touch x).env'))).toBe(true);
    expect(existsSync(marker)).toBe(false);
    expect(existsSync(`${marker}2`)).toBe(false);
    expect(existsSync(path.join(f.home, 'x'))).toBe(false);
    const again = await cli(f.home, p.dir, ['deploy']);
    expect(again.code, again.stderr).toBe(0);
    const rb = await cli(f.home, p.dir, ['rollback', '--yes']);
    expect(rb.code, rb.stderr).toBe(0);
    expect(current(weird)).toBe(id);
    expect(existsSync(marker)).toBe(false);
  });
});

describe('git metadata', () => {
  it('REVISION is the commit, revisions.log names the branch, the performer is git user.name outside CI', async () => {
    const root = remote('git');
    const p = newProject({ hosts: [{ host: 'web1', path: root }] });
    const git = (...args: string[]) => execFileSync('git', args, { cwd: p.dir, encoding: 'utf8' }).trim();
    git('init', '-q', '-b', 'main');
    git('config', 'user.name', 'Bob Builder');
    git('config', 'user.email', 'bob@example.com');
    git('add', '.');
    git('commit', '-q', '-m', 'first');
    const sha = git('rev-parse', 'HEAD');
    const r = await cli(f.home, p.dir, ['deploy', '--json'], { env: { GITHUB_ACTOR: undefined } });
    expect(r.code, r.stderr).toBe(0);
    const id = current(root)!;
    expect(readFileSync(path.join(root, 'releases', id, 'REVISION'), 'utf8')).toBe(`${sha}\n`);
    expect(revisionsLog(root)).toEqual([`Branch main (at ${sha}) deployed as release ${id} by Bob Builder`]);
    expect(historyRecords(root)[0]).toMatchObject({ commit: sha, branch: 'main', user: 'Bob Builder' });
    expect(jsonDoc(r.stdout)).toMatchObject({ commit: sha, user: 'Bob Builder' });
    // in CI the CI actor wins
    const ci = await cli(f.home, p.dir, ['deploy'], { env: { GITHUB_ACTOR: undefined, GITLAB_USER_LOGIN: 'gitlab-carol' } });
    expect(ci.code, ci.stderr).toBe(0);
    expect(revisionsLog(root).at(-1)).toMatch(/ by gitlab-carol$/);
  });
});

describe('host keys', () => {
  it('refuses an unknown host key with its SHA256 fingerprint and creates nothing', async () => {
    const root = remote('unknown-host');
    const p = newProject({ hosts: [{ host: 'stranger', path: root }] });
    const r = await cli(f.home, p.dir, ['deploy']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(f.servers[1].hostKeyFingerprint);
    expect(r.stderr).toMatch(/ssh-keyscan/);
    expect(r.stderr.trim().split('\n').filter((l) => l.startsWith('error:'))).toHaveLength(1);
    expect(existsSync(root)).toBe(false);
    expect((await f.servers[1].count('Accepted publickey'))).toBe(0);
  });

  it('refuses a changed host key', async () => {
    const root = remote('changed-host');
    const p = newProject({ hosts: [{ host: 'impostor', path: root }] });
    const r = await cli(f.home, p.dir, ['deploy', '--json']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(f.servers[2].hostKeyFingerprint);
    expect(jsonDoc(r.stdout)).toMatchObject({ ok: false, exitCode: 3 });
    expect(existsSync(root)).toBe(false);
  });
});
