/**
 * Which project owns a deploy path: the first deploy records it in <path>/.ee-deploy/project;
 * another project's deploy or rollback there is refused (exit 2, one line naming both, nothing
 * touched) unless --force; a tree Capistrano made (no .ee-deploy/) is adopted. And a project
 * named beside `-c FILE` must be the one that file configures.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, current, historyRecords, isLocked, newProject, releases, revisionsLog, type Project } from '../helpers/deploy-env.js';

let tmp: string;
let root: string;
let shop: Project;
let blog: Project;
const home = () => path.join(tmp, 'home');
const owner = () => readFileSync(path.join(root, '.ee-deploy', 'project'), 'utf8');

beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-owner-'));
  root = path.join(tmp, 'srv');
  shop = newProject({ project: 'shop', hosts: [{ host: 'local', path: root }] }, { 'index.html': 'shop\n' }, tmp);
  blog = newProject({ project: 'blog', hosts: [{ host: 'local', path: root }] }, { 'index.html': 'blog\n' }, tmp);
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('ownership of a deploy path', () => {
  it('the first deploy records its project; another project\'s deploy and rollback are refused, naming both, touching nothing', async () => {
    expect((await cli(home(), shop.dir, ['deploy'])).code).toBe(0);
    writeFileSync(path.join(shop.app, 'index.html'), 'shop v2\n');
    expect((await cli(home(), shop.dir, ['deploy'])).code).toBe(0);
    expect(owner()).toBe('shop\n');
    const live = current(root);
    const before = { releases: releases(root), history: historyRecords(root).length, revisions: revisionsLog(root).length };

    const d = await cli(home(), blog.dir, ['deploy']);
    expect(d.code).toBe(2);
    expect(d.stderr.trim().split('\n')).toEqual([`error: local: ${root} belongs to project "shop", not "blog": deploy refused (pass --force to deploy there anyway and make "blog" its owner)`]);
    // the single-exec rollback declines too, and the usual path names the owner
    const r = await cli(home(), blog.dir, ['rollback', '--yes']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`belongs to project "shop", not "blog": rollback refused`);
    const dry = await cli(home(), blog.dir, ['deploy', '--dry-run']);
    expect(dry.code).toBe(2);
    expect({ releases: releases(root), history: historyRecords(root).length, revisions: revisionsLog(root).length }).toEqual(before);
    expect(current(root)).toBe(live);
    expect(isLocked(root)).toBe(false);
    expect(owner()).toBe('shop\n');
  });

  it('--force deploys there anyway and hands the path over', async () => {
    const r = await cli(home(), blog.dir, ['deploy', '--force']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`belonged to project "shop"; --force: it is now "blog"'s`);
    expect(owner()).toBe('blog\n');
    expect(readFileSync(path.join(root, 'current', 'index.html'), 'utf8')).toBe('blog\n');
    expect((await cli(home(), shop.dir, ['deploy'])).code).toBe(2);
  });

  it('a tree Capistrano made (no .ee-deploy/) is adopted by the first deploy', async () => {
    const cap = path.join(tmp, 'cap');
    mkdirSync(path.join(cap, 'releases', '20240101000000'), { recursive: true });
    writeFileSync(path.join(cap, 'releases', '20240101000000', 'REVISION'), 'abc\n');
    symlinkSync(path.join(cap, 'releases', '20240101000000'), path.join(cap, 'current'));
    const p = newProject({ project: 'capped', hosts: [{ host: 'local', path: cap }] }, { 'index.html': 'x\n' }, tmp);
    expect(existsSync(path.join(cap, '.ee-deploy'))).toBe(false);
    const r = await cli(home(), p.dir, ['deploy']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(path.join(cap, '.ee-deploy', 'project'), 'utf8')).toBe('capped\n');
  });

  it('a project named beside -c must be the one the file configures (exit 2), for rollback and every other command', async () => {
    const r = await cli(home(), tmp, ['rollback', 'otherproj', '-c', blog.config, '--yes']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^error: project "otherproj" does not match .*ee-deploy\.yaml, the config of project "blog" \(drop one of the two\)$/);
    const h = await cli(home(), tmp, ['history', 'shop', '-c', blog.config]);
    expect(h.code).toBe(2);
    // the matching name is fine
    const ok = await cli(home(), tmp, ['history', 'blog', '-c', blog.config]);
    expect(ok.code, ok.stderr).toBe(0);
  });
});
