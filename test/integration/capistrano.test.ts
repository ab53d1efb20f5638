/**
 * One tree, two tools: real Capistrano (Debian's `cap`, offline: its repo is a local git
 * repository) and ee-deploy deploy, roll back and clean up the same `deploy_to` over the same
 * sshd. Capistrano writes an absolute `current` link and picks releases by name and mtime;
 * ee-deploy writes relative links and must read both.
 */
import { readFileSync, readlinkSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capProject, type CapProject } from '../helpers/capistrano.js';
import { cli, historyRecords, jsonDoc, revisionsLog } from '../helpers/deploy-env.js';
import { makeProject } from '../helpers/cli.js';
import { startSshd, type SshdFixture } from '../helpers/sshd.js';

let f: SshdFixture;
let cap: CapProject;
let root: string;
let ee: { dir: string; config: string };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const linkTarget = () => readlinkSync(path.join(root, 'current'));
/** the release id `current` points at, whether the link is absolute or relative */
const currentId = () => path.basename(linkTarget());
const ids = () => readdirSync(path.join(root, 'releases')).sort();
const served = () => readFileSync(path.join(root, 'current', 'index.html'), 'utf8');
const run = (...args: string[]) => cli(f.home, ee.dir, [...args, '-c', ee.config]);

beforeAll(async () => {
  f = await startSshd({ count: 1 });
  root = path.join(f.dir, 'srv', 'shop');
  cap = capProject(f.home, f.servers[0].alias, f.user, root, 3);
  // ee-deploy's config lives outside the git work tree it deploys (source.dir = the repo)
  ee = makeProject(
    [
      'project: shop',
      `source: { dir: ${JSON.stringify(cap.repo)}, exclude: [".git"] }`,
      'keep_releases: 3',
      'environments:',
      '  production:',
      `    hosts: [{ host: ${JSON.stringify(f.servers[0].alias)}, path: ${JSON.stringify(root)} }]`,
      '',
    ].join('\n'),
  );
}, 60_000);
afterAll(async () => {
  await f?.stopAll();
});

describe('a tree Capistrano wrote, used by ee-deploy', () => {
  let capV1: string;
  let capV2: string;

  it('cap deploy twice: absolute current link', async () => {
    cap.commit({ 'index.html': 'v1\n' }, 'v1');
    expect((await cap.cap('deploy')).code).toBe(0);
    capV1 = currentId();
    await sleep(1100); // Capistrano's ids are seconds too
    cap.commit({ 'index.html': 'v2\n' }, 'v2');
    const r = await cap.cap('deploy');
    expect(r.code, r.out).toBe(0);
    capV2 = currentId();
    expect(path.isAbsolute(linkTarget())).toBe(true);
    expect(capV2 > capV1).toBe(true);
  });

  it('ee-deploy releases marks the release the absolute link points at as current', async () => {
    const r = await run('releases', '--json');
    expect(r.code, r.stderr).toBe(0);
    const host = jsonDoc(r.stdout).hosts[0];
    expect(host.current).toBe(capV2);
    expect(host.releases.filter((x: { current: boolean }) => x.current).map((x: { id: string }) => x.id)).toEqual([capV2]);
    // Capistrano's REVISION is read as the commit
    expect(host.releases.find((x: { id: string }) => x.id === capV2).commit).toMatch(/^[0-9a-f]{40}$/);
    const c = await run('check', '--json');
    expect(c.code, c.stderr).toBe(0);
    expect(jsonDoc(c.stdout).hosts[0].current).toBe(capV2);
  });

  it('ee-deploy rollback goes back to the previous Capistrano release', async () => {
    const r = await run('rollback', '--yes');
    expect(r.code, r.stderr).toBe(0);
    expect(currentId()).toBe(capV1);
    expect(served()).toBe('v1\n');
    expect(linkTarget()).toBe(`releases/${capV1}`);
    expect(revisionsLog(root).at(-1)).toMatch(new RegExp(`rolled back to release ${capV1}$`));
    expect(historyRecords(root).at(-1)).toMatchObject({ action: 'rollback', id: capV1, from: capV2 });
    const h = await run('history', '--json');
    expect(h.code, h.stderr).toBe(0);
    expect(JSON.stringify(jsonDoc(h.stdout))).not.toContain(path.join(root, 'releases'));
  });

  it('ee-deploy deploy: a plain timestamp id and the full 40-hex commit from the source dir', async () => {
    const sha = cap.commit({ 'index.html': 'v3\n' }, 'v3');
    const r = await run('deploy', '--yes');
    expect(r.code, r.stderr).toBe(0);
    expect(currentId()).toMatch(/^\d{14}$/);
    expect(served()).toBe('v3\n');
    expect(readFileSync(path.join(root, 'current', 'REVISION'), 'utf8').trim()).toBe(sha);
    expect(revisionsLog(root).at(-1)).toMatch(new RegExp(`^Branch main \\(at ${sha}\\) deployed as release ${currentId()} by `));
  });
});

describe('a tree ee-deploy wrote, used by Capistrano', () => {
  it('three ee-deploy deploys in quick succession: distinct plain timestamp ids', async () => {
    for (const v of ['v4', 'v5', 'v6']) {
      cap.commit({ 'index.html': `${v}\n` }, v);
      const r = await run('deploy', '--yes');
      expect(r.code, r.stderr).toBe(0);
    }
    const all = ids();
    expect(all.every((id) => /^\d{14}$/.test(id)), all.join(' ')).toBe(true);
    // ee-deploy's pruning (keep_releases 3) removed Capistrano's releases too
    expect(all).toHaveLength(3);
    expect(new Set(all).size).toBe(all.length);
    expect(served()).toBe('v6\n');
  });

  it("cap deploy:rollback goes to the release before ee-deploy's current", async () => {
    const before = ids().filter((id) => id < currentId());
    const previous = before.at(-1)!;
    // Capistrano picks by mtime: ee-deploy's releases were made in id order, as its own are
    const r = await cap.cap('deploy:rollback');
    expect(r.code, r.out).toBe(0);
    expect(currentId()).toBe(previous);
    expect(served()).toBe('v5\n');
  });

  it('ee-deploy reads the link cap deploy:rollback wrote, and cap deploy cleans up every release ee-deploy made', async () => {
    const r = await run('deploy', '--yes');
    expect(r.code, r.stderr).toBe(0);
    expect(served()).toBe('v6\n');
    cap.commit({ 'index.html': 'v7\n' }, 'v7');
    await sleep(1100);
    const c = await cap.cap('deploy');
    expect(c.code, c.out).toBe(0);
    expect(c.out).not.toMatch(/unexpected/i);
    expect(served()).toBe('v7\n');
    expect(ids()).toHaveLength(3);
    const after = await run('releases', '--json');
    expect(after.code, after.stderr).toBe(0);
    expect(jsonDoc(after.stdout).hosts[0].current).toBe(currentId());
  });
});
