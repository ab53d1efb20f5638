/**
 * `ee-deploy rollback` over a real OpenSSH server: previous release, a named release,
 * a registered project from another directory, BAD_RELEASE markers, confirmation off a TTY.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshd, type SshdFixture } from '../helpers/sshd.js';
import { cli, server, current, historyRecords, isBad, isLocked, jsonDoc, newProject, releases, revisionsLog, type Project } from '../helpers/deploy-env.js';

let f: SshdFixture;
let tmp: string;
let root: string;
let p: Project;
/** A, B, C: three deployed releases, oldest first */
let ids: string[];

beforeAll(async () => {
  f = await startSshd({ servers: [server('web1')] });
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-rollback-'));
  root = path.join(tmp, 'srv', 'shop');
  p = newProject({
    hosts: [{ host: 'web1', path: root }],
    // cwd of after_rollback hooks is `current`
    hooks: { after_rollback: ['printf "%s %s %s\\n" "$EE_RELEASE" "$EE_PREVIOUS_RELEASE" "$(basename "$(pwd -P)")" >> ../../after_rollback.txt'] },
  });
  ids = [];
  for (let i = 0; i < 3; i++) {
    writeFileSync(path.join(p.app, 'index.html'), `<h1>v${i + 1}</h1>\n`);
    const r = await cli(f.home, p.dir, ['deploy', '-m', `v${i + 1}`]);
    expect(r.code, r.stderr).toBe(0);
    ids.push(current(root)!);
  }
  expect(releases(root)).toEqual(ids);
});

afterAll(async () => {
  await f?.stopAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const hookLines = () => readFileSync(path.join(root, 'after_rollback.txt'), 'utf8').trim().split('\n');
const index = () => readFileSync(path.join(root, 'current', 'index.html'), 'utf8');

describe('rollback', () => {
  it('needs --yes off a TTY (exit 2, nothing touched)', async () => {
    const r = await cli(f.home, p.dir, ['rollback']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: rollback needs --yes/);
    expect(current(root)).toBe(ids[2]);
    expect(isLocked(root)).toBe(false);
    expect(existsSync(path.join(root, 'after_rollback.txt'))).toBe(false);
  });

  it('goes back to the previous release with --yes and records it', async () => {
    const r = await cli(f.home, p.dir, ['rollback', '--yes', '-m', 'bad css']);
    expect(r.code, r.stderr).toBe(0);
    expect(current(root)).toBe(ids[1]);
    expect(index()).toBe('<h1>v2</h1>\n');
    expect(r.stdout).toContain(`${ids[2]} -> ${ids[1]}`);
    expect(revisionsLog(root).at(-1)).toBe(`alice rolled back to release ${ids[1]}`);
    expect(historyRecords(root).at(-1)).toMatchObject({ id: ids[1], action: 'rollback', status: 'success', from: ids[2], user: 'alice', message: 'bad css' });
    expect(hookLines()).toEqual([`${ids[1]} ${ids[2]} ${ids[1]}`]);
    expect(isLocked(root)).toBe(false);
    // nothing is deleted or marked by a rollback
    expect(releases(root)).toEqual(ids);
    expect(ids.some((id) => isBad(root, id))).toBe(false);
  });

  it('goes to a named release', async () => {
    const r = await cli(f.home, p.dir, ['rollback', ids[0], '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(current(root)).toBe(ids[0]);
    expect(jsonDoc(r.stdout)).toMatchObject({ ok: true, action: 'rollback', release: ids[0], status: 'success', hosts: [{ host: 'web1', from: ids[1], current: ids[0], state: 'rolled_back' }] });
    expect(revisionsLog(root).at(-1)).toBe(`alice rolled back to release ${ids[0]}`);
  });

  it('rejects an unknown or invalid release id (exit 2, nothing touched)', async () => {
    const missing = await cli(f.home, p.dir, ['rollback', '20000101000000', '--yes']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('release 20000101000000 does not exist');
    const bad = await cli(f.home, p.dir, ['rollback', 'shop', '../../etc', '--yes']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('invalid release id');
    expect(current(root)).toBe(ids[0]);
    expect(isLocked(root)).toBe(false);
  });

  it('works from another directory through the project registry', async () => {
    const elsewhere = mkdtempSync(path.join(tmp, 'cwd-'));
    // back to the newest by name
    const r = await cli(f.home, elsewhere, ['rollback', 'shop', ids[2], '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(current(root)).toBe(ids[2]);
    const unknown = await cli(f.home, elsewhere, ['rollback', 'nosuchproject', '--yes']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown project "nosuchproject"');
  });

  it('skips releases marked BAD_RELEASE', async () => {
    writeFileSync(path.join(root, 'releases', ids[1], 'BAD_RELEASE'), '2026-01-01T00:00:00Z,bob\n');
    const elsewhere = mkdtempSync(path.join(tmp, 'cwd-'));
    const r = await cli(f.home, elsewhere, ['rollback', 'shop', '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(current(root)).toBe(ids[0]);
    // nothing older than the oldest: exit 1, names what exists, nothing touched
    const none = await cli(f.home, elsewhere, ['rollback', 'shop', '--yes']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no previous release to roll back to/);
    expect(current(root)).toBe(ids[0]);
    expect(isLocked(root)).toBe(false);
    // a named rollback to a marked release is deliberate: it clears the marker
    const named = await cli(f.home, elsewhere, ['rollback', 'shop', ids[1], '--yes']);
    expect(named.code, named.stderr).toBe(0);
    expect(current(root)).toBe(ids[1]);
    expect(isBad(root, ids[1])).toBe(false);
  });
});

describe('pruning with BAD_RELEASE releases', () => {
  it('a run of failed deploys never prunes the last good release; marked ones go first, the newest marked one stays', async () => {
    const r2 = path.join(tmp, 'srv', 'prune');
    // an after_switch hook that fails while the release holds BROKEN: rolled back, marked BAD_RELEASE
    const q = newProject({ hosts: [{ host: 'web1', path: r2 }], keep: 2, hooks: { after_switch: ['test ! -f BROKEN'] } });
    const deploy = async (broken: boolean, expected: number) => {
      if (broken) writeFileSync(path.join(q.app, 'BROKEN'), 'x\n');
      else rmSync(path.join(q.app, 'BROKEN'), { force: true });
      const r = await cli(f.home, q.dir, ['deploy']);
      expect(r.code, r.stderr).toBe(expected);
    };
    await deploy(false, 0);
    await deploy(false, 0);
    const good = current(r2)!;
    for (let i = 0; i < 4; i++) await deploy(true, 1);
    // keep 2 counts good releases only: both stay, and the newest failed one for inspection
    const all = releases(r2);
    expect(all).toHaveLength(3);
    expect(all.filter((id) => isBad(r2, id))).toEqual([all[2]]);
    expect(current(r2)).toBe(good);
    // `releases` names who deployed the BAD_RELEASE one too (from the history)
    const ls = await cli(f.home, q.dir, ['releases', '--json']);
    expect(ls.code, ls.stderr).toBe(0);
    expect(jsonDoc(ls.stdout).hosts[0].releases).toContainEqual(expect.objectContaining({ id: all[2], bad: true, user: 'alice' }));
    // a good deploy now: the newest 2 good ones, plus the newest marked one
    await deploy(false, 0);
    const after = releases(r2);
    expect(after).toEqual([good, all[2], current(r2)]);
    // rollback has somewhere to go: the last good release before, skipping the marked one
    const rb = await cli(f.home, q.dir, ['rollback', '--yes']);
    expect(rb.code, rb.stderr).toBe(0);
    expect(current(r2)).toBe(good);
  });
});
