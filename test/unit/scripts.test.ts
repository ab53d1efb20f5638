/**
 * The remote scripts, rendered by their builders and run by a real `sh` (dash here, as on Debian
 * servers) against a temp dir: what each leaves behind on success and on failure.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { forceUnlockScript, manualLockScript, serializeLock, unlockScript, type LockInfo } from '../../src/remote/steps/lock.js';
import { finishScript } from '../../src/remote/steps/finish.js';
import { readHistoryScript, releaseDetailsScript } from '../../src/remote/steps/inspect.js';
import { openScript, parseState } from '../../src/remote/steps/open.js';
import { prepareScript, type PrepareOptions } from '../../src/remote/steps/prepare.js';
import { switchScript } from '../../src/remote/steps/switch.js';
import type { Cmd } from '../../src/remote/shell.js';

const A = '20261120100000';
const B = '20261121100000';
const C = '20261122100000';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function sh(c: Cmd, stdin?: Buffer | string, cwd?: string): Run {
  const r = spawnSync('sh', ['-c', c.text], { input: typeof stdin === 'string' ? Buffer.from(stdin) : (stdin ?? Buffer.alloc(0)), cwd, encoding: 'buffer' });
  return { code: r.status, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
}

/** a tar archive (system tar) of `files` */
function tarOf(files: Record<string, string>, gzip = false): Buffer {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ee-tar-'));
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), content);
  }
  const r = spawnSync('tar', [gzip ? '-czf' : '-cf', '-', '-C', dir, '.'], { encoding: 'buffer' });
  return r.stdout;
}

const lockInfo = (token: string, extra: Partial<LockInfo> = {}): string => serializeLock({ user: 'alice', machine: 'm', pid: 1, time: new Date().toISOString(), token, ...extra });

let tmp: string;
let root: string;
const rel = (...p: string[]) => path.join(root, ...p);
const current = () => readlinkSync(rel('current'));
const ids = () => readdirSync(rel('releases')).sort();

function prep(id: string, o: Partial<PrepareOptions> = {}, files: Record<string, string> = { 'index.html': `release ${id}\n` }): Run {
  return sh(prepareScript({ root, id, gzip: false, sharedDirs: [], sharedFiles: [], revision: `rev-${id}`, revisionTime: '2026-11-22T10:00:00.000Z', hooks: [], hookEnv: {}, ...o }), tarOf(files, o.gzip));
}
const sw = (id: string, o: Partial<Parameters<typeof switchScript>[0]> = {}) => sh(switchScript({ root, id, hooks: [], hookEnv: {}, phase: 'after_switch', ...o }));

beforeEach(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-scripts-'));
  // data that would bite if it ever became shell text
  root = path.join(tmp, `srv dir 'q' "dq" $(touch ${tmp}/pwned)`, 'shop');
});

function open(token = 'T1', extra: Partial<Parameters<typeof openScript>[1]> = {}) {
  const r = sh(openScript(root, { lockInfo: lockInfo(token), ...extra }));
  expect(r.code, r.stderr).toBe(0);
  return { r, state: parseState(r.stdout) };
}

describe('open', () => {
  it('creates the layout, takes the lock, reports the state', () => {
    const { state } = open();
    expect(state.lock.status).toBe('acquired');
    expect(state.current).toBeUndefined();
    expect(state.releases).toEqual([]);
    expect(state.missingTools).toEqual([]);
    expect(state.availableKb).toBeGreaterThan(0);
    for (const d of ['releases', 'shared', '.ee-deploy/staging', '.ee-deploy/lock']) expect(lstatSync(rel(d)).isDirectory()).toBe(true);
    expect(JSON.parse(readFileSync(rel('.ee-deploy/lock/info'), 'utf8'))).toMatchObject({ token: 'T1', user: 'alice' });
    expect(existsSync(path.join(tmp, 'pwned'))).toBe(false);
  });

  it('a second open sees the lock held, with its info; the holder is untouched', () => {
    open('T1');
    const { state } = open('T2');
    expect(state.lock.status).toBe('held');
    expect(JSON.parse(state.lock.info!)).toMatchObject({ token: 'T1' });
    expect(JSON.parse(readFileSync(rel('.ee-deploy/lock/info'), 'utf8')).token).toBe('T1');
  });

  it('prepare and switch go on only while the lock carries the run\'s token', () => {
    open('T1');
    const gone = prep(A, { lockToken: 'T2' });
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/the deploy lock is no longer held by this run/);
    expect(existsSync(rel('releases', A))).toBe(false);
    const ok = prep(A, { lockToken: 'T1' });
    expect(ok.code, ok.stderr).toBe(0);
    expect(sw(A, { lockToken: 'T2' }).code).toBe(1);
    expect(existsSync(rel('current'))).toBe(false);
    const s1 = sw(A, { lockToken: 'T1' });
    expect(s1.code, s1.stderr).toBe(0);
    expect(readlinkSync(rel('current'))).toBe(`releases/${A}`);
  });

  it('a lock without a guard (taken by hand, or by an older version) is never taken over', () => {
    open('T1');
    expect(open('T2').state.lock.status).toBe('held');
    expect(JSON.parse(readFileSync(rel('.ee-deploy/lock/info'), 'utf8')).token).toBe('T1');
  });

  it('taking the lock clears staging leftovers of a killed run (and only then)', () => {
    open('T1');
    mkdirSync(rel('.ee-deploy/staging', C), { recursive: true });
    open('T2');
    expect(existsSync(rel('.ee-deploy/staging', C))).toBe(true);
    sh(unlockScript(root, 'T1'));
    open('T3');
    expect(readdirSync(rel('.ee-deploy/staging'))).toEqual([]);
  });

  it('read-only: creates nothing, reports no layout or the lock state', () => {
    const r = sh(openScript(root, { readOnly: true }));
    expect(r.code).toBe(0);
    expect(parseState(r.stdout).noLayout).toBe(true);
    expect(existsSync(root)).toBe(false);
    open('T1');
    const st = parseState(sh(openScript(root, { readOnly: true })).stdout);
    expect(st.lock.status).toBe('held');
  });

  it('reports current, releases, BAD_RELEASE markers and REVISION', () => {
    open();
    for (const id of [A, B]) expect(prep(id).code).toBe(0);
    expect(sw(A).code).toBe(0);
    writeFileSync(rel('releases', B, 'BAD_RELEASE'), 'x,bob\n');
    const st = parseState(sh(openScript(root, { readOnly: true })).stdout);
    expect(st.current).toBe(A);
    expect(st.releases.sort((x, y) => x.id.localeCompare(y.id))).toEqual([
      { id: A, bad: false, revision: `rev-${A}` },
      { id: B, bad: true, revision: `rev-${B}` },
    ]);
  });
  it('reads an absolute current link (as Capistrano writes it), and relative spellings, as the release', () => {
    open();
    for (const id of [A, B]) expect(prep(id).code).toBe(0);
    const st = (target: string) => {
      rmSync(rel('current'), { force: true });
      symlinkSync(target, rel('current'));
      return parseState(sh(openScript(root, { readOnly: true })).stdout).current;
    };
    expect(st(rel('releases', B))).toBe(B);
    expect(st(`./releases/${A}/`)).toBe(A);
    // the same directory through another path (deploy_to reached through a symlink)
    symlinkSync(root, path.join(tmp, 'via-link'));
    expect(st(path.join(tmp, 'via-link', 'releases', A))).toBe(A);
    // a link outside this root stays what it is: no release of ours is current
    mkdirSync(path.join(tmp, 'elsewhere', 'releases', A), { recursive: true });
    expect(st(path.join(tmp, 'elsewhere', 'releases', A))).toBe(path.join(tmp, 'elsewhere', 'releases', A));
    // pruning and failed-release removal never touch the release an absolute link points at
    st(rel('releases', A));
    expect(sh(finishScript({ root, prune: [A], removeRelease: A })).code).toBe(0);
    expect(ids()).toEqual([A, B]);
  });
});

describe('prepare', () => {
  beforeEach(() => {
    open();
  });

  it('unpacks into releases/<id> with REVISION files and shared links; staging is left empty', () => {
    const r = prep(A, { sharedDirs: ['storage', 'logs/app'], sharedFiles: ['.env', "conf/it's.yml"] }, { 'index.html': 'v1\n', 'storage/old': 'x', 'lib/a.js': 'a' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('@@ee prepared');
    const d = rel('releases', A);
    expect(readFileSync(path.join(d, 'index.html'), 'utf8')).toBe('v1\n');
    expect(readFileSync(path.join(d, 'REVISION'), 'utf8')).toBe(`rev-${A}\n`);
    expect(readFileSync(path.join(d, 'REVISION_TIME'), 'utf8')).toBe('2026-11-22T10:00:00.000Z\n');
    expect(readlinkSync(path.join(d, 'storage'))).toBe('../../shared/storage');
    expect(readlinkSync(path.join(d, 'logs/app'))).toBe('../../../shared/logs/app');
    expect(readlinkSync(path.join(d, '.env'))).toBe('../../shared/.env');
    expect(readlinkSync(path.join(d, "conf/it's.yml"))).toBe("../../../shared/conf/it's.yml");
    expect(readFileSync(path.join(d, "conf/it's.yml"), 'utf8')).toBe('');
    expect(lstatSync(rel('shared/storage')).isDirectory()).toBe(true);
    expect(readdirSync(rel('.ee-deploy/staging'))).toEqual([]);
    expect(existsSync(path.join(tmp, 'pwned'))).toBe(false);
  });

  it('shared files keep their content across releases', () => {
    expect(prep(A, { sharedFiles: ['.env'] }).code).toBe(0);
    writeFileSync(rel('shared/.env'), 'SECRET=1\n');
    expect(prep(B, { sharedFiles: ['.env'] }, { 'index.html': 'v2', '.env': 'from the upload' }).code).toBe(0);
    expect(readFileSync(rel('releases', B, '.env'), 'utf8')).toBe('SECRET=1\n');
  });

  it('gzip archives', () => {
    expect(prep(A, { gzip: true }).code).toBe(0);
    expect(readFileSync(rel('releases', A, 'index.html'), 'utf8')).toBe(`release ${A}\n`);
  });

  it('a broken upload leaves nothing in releases/ and nothing in staging', () => {
    const r = sh(prepareScript({ root, id: A, gzip: false, sharedDirs: [], sharedFiles: [], revision: 'r', revisionTime: 't', hooks: [], hookEnv: {} }), 'this is not a tar archive');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/@@ee failed upload: tar exited/);
    expect(ids()).toEqual([]);
    expect(readdirSync(rel('.ee-deploy/staging'))).toEqual([]);
  });

  it('refuses a release id that already exists', () => {
    expect(prep(A).code).toBe(0);
    const r = prep(A, {}, { 'index.html': 'other' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`@@ee failed release ${A} already exists`);
    expect(readFileSync(rel('releases', A, 'index.html'), 'utf8')).toBe(`release ${A}\n`);
  });

  it('before_switch hooks run in the new release with their env; a failure removes the release', () => {
    const ok = prep(A, { hooks: ['pwd -P > ../../hook-cwd; printf "%s" "$EE_X" > ../../hook-env'], hookEnv: { EE_X: "it's $(x)" } });
    expect(ok.code, ok.stderr).toBe(0);
    expect(readFileSync(rel('hook-cwd'), 'utf8').trim()).toBe(realpathSync(rel('releases', A)));
    expect(readFileSync(rel('hook-env'), 'utf8')).toBe("it's $(x)");
    const bad = prep(B, { hooks: ['true', 'echo oops >&2; exit 7', 'touch ../../never'] });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('@@ee hook-failed before_switch 1 7');
    expect(bad.stderr).toContain('@@ee failed before_switch hook #2 exited 7');
    // a hook's stderr is interleaved with its stdout, in order, in the step's output
    expect(bad.stdout).toContain('oops');
    expect(ids()).toEqual([A]);
    expect(existsSync(rel('never'))).toBe(false);
  });

  it('a hook cannot end the script early with exit 0 or set -e', () => {
    const r = prep(A, { hooks: ['set -e; exit 0', 'echo second > ../../second'] });
    expect(r.code).toBe(0);
    expect(readFileSync(rel('second'), 'utf8')).toBe('second\n');
  });
});

describe('switch', () => {
  beforeEach(() => {
    open();
    for (const id of [A, B]) expect(prep(id).code).toBe(0);
  });

  it('points current at releases/<id> with a relative symlink, atomically replacing the old one', () => {
    const r = sw(A);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`@@ee switched ${A}`);
    expect(current()).toBe(`releases/${A}`);
    expect(sw(B).code).toBe(0);
    expect(current()).toBe(`releases/${B}`);
    expect(lstatSync(rel('current')).isSymbolicLink()).toBe(true);
    expect(readFileSync(rel('current/index.html'), 'utf8')).toBe(`release ${B}\n`);
    // no temp link left behind
    expect(readdirSync(root).filter((n) => n.startsWith('.ee-current'))).toEqual([]);
  });

  it('refuses a release that does not exist; current unchanged', () => {
    sw(A);
    const r = sw(C);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`@@ee failed release ${C} does not exist`);
    expect(current()).toBe(`releases/${A}`);
  });

  it('never replaces a real directory named current', () => {
    mkdirSync(rel('current'));
    writeFileSync(rel('current/keep'), 'x');
    const r = sw(A);
    expect(r.code).toBe(1);
    expect(readFileSync(rel('current/keep'), 'utf8')).toBe('x');
  });

  it('after_switch hooks run in current; a failure is reported after the switch happened', () => {
    const r = sw(A, { hooks: ['pwd > ../../after-cwd', 'exit 3'] });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`@@ee switched ${A}`);
    expect(r.stdout).toContain('@@ee hook-failed after_switch 1 3');
    expect(current()).toBe(`releases/${A}`);
    expect(readFileSync(rel('after-cwd'), 'utf8').trim()).toBe(rel('current'));
  });

  it('clearBad removes a BAD_RELEASE marker (a deliberate rollback to it)', () => {
    writeFileSync(rel('releases', A, 'BAD_RELEASE'), 'x\n');
    expect(sw(A, { phase: 'after_rollback', clearBad: true }).code).toBe(0);
    expect(existsSync(rel('releases', A, 'BAD_RELEASE'))).toBe(false);
  });
});

describe('finish', () => {
  beforeEach(() => {
    open('T1');
    for (const id of [A, B, C]) expect(prep(id).code).toBe(0);
    expect(sw(B).code).toBe(0);
  });

  it('appends history and revisions.log, marks a bad release, releases our lock', () => {
    const r = sh(finishScript({ root, historyLine: '{"id":"x","note":"it\'s $(x)"}', revisionsLine: 'alice rolled back to release B', markBad: { id: C, text: '2026-11-22T10:00:00Z,alice' }, unlockToken: 'T1' }));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('@@ee unlocked');
    expect(readFileSync(rel('.ee-deploy/history.jsonl'), 'utf8')).toBe('{"id":"x","note":"it\'s $(x)"}\n');
    expect(readFileSync(rel('revisions.log'), 'utf8')).toBe('alice rolled back to release B\n');
    expect(readFileSync(rel('releases', C, 'BAD_RELEASE'), 'utf8')).toBe('2026-11-22T10:00:00Z,alice\n');
    expect(existsSync(rel('.ee-deploy/lock'))).toBe(false);
    sh(finishScript({ root, historyLine: '{"id":"y"}' }));
    expect(readFileSync(rel('.ee-deploy/history.jsonl'), 'utf8').split('\n')).toHaveLength(3);
  });

  it('leaves a lock that is not ours, and does nothing else', () => {
    const r = sh(finishScript({ root, unlockToken: 'SOMEONE-ELSE' }));
    expect(r.code).toBe(1);
    expect(existsSync(rel('.ee-deploy/lock'))).toBe(true);
  });

  it('prunes the listed releases, but never the one current points at', () => {
    const r = sh(finishScript({ root, prune: [A, B] }));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`@@ee pruned ${A}`);
    expect(r.stdout).not.toContain(`@@ee pruned ${B}`);
    expect(ids()).toEqual([B, C]);
    expect(current()).toBe(`releases/${B}`);
  });

  it('removes a failed release unless it is current', () => {
    expect(sh(finishScript({ root, removeRelease: B })).code).toBe(0);
    expect(ids()).toEqual([A, B, C]);
    expect(sh(finishScript({ root, removeRelease: C })).code).toBe(0);
    expect(ids()).toEqual([A, B]);
  });

  it('refuses invalid release ids before anything is rendered', () => {
    expect(() => finishScript({ root, prune: ['../../etc'] })).toThrow(/invalid release id/);
    expect(() => finishScript({ root, removeRelease: '*' })).toThrow(/invalid release id/);
    expect(() => switchScript({ root, id: '..', hooks: [], hookEnv: {}, phase: 'after_switch' })).toThrow(/invalid release id/);
  });
});

describe('locks and reads', () => {
  it('manual lock / unlock / force unlock', () => {
    const l = sh(manualLockScript(root, lockInfo('M', { manual: true, message: "it's $(x)" })));
    expect(parseState(l.stdout).lock.status).toBe('acquired');
    expect(parseState(sh(manualLockScript(root, lockInfo('N'))).stdout).lock.status).toBe('held');
    expect(sh(unlockScript(root, 'N')).stdout).toBe('');
    expect(existsSync(rel('.ee-deploy/lock'))).toBe(true);
    const u = sh(forceUnlockScript(root));
    const st = parseState(u.stdout);
    expect(st.lock.status).toBe('held');
    expect(JSON.parse(st.lock.info!)).toMatchObject({ token: 'M', message: "it's $(x)" });
    expect(u.stdout).toContain('@@ee unlocked');
    expect(parseState(sh(forceUnlockScript(root)).stdout).lock.status).toBe('free');
    // no lock at all: nothing said, nothing on stderr
    const none = sh(unlockScript(root, 'M'));
    expect([none.stdout, none.stderr]).toEqual(['', '']);
  });

  it('history tail and release details', () => {
    open();
    expect(prep(A).code).toBe(0);
    for (let i = 0; i < 5; i++) sh(finishScript({ root, historyLine: JSON.stringify({ id: A, n: i }) }));
    const h = sh(readHistoryScript(root, 2));
    expect(h.stdout).toBe(`@@ee hist {"id":"${A}","n":3}\n@@ee hist {"id":"${A}","n":4}\n`);
    const d = sh(releaseDetailsScript(root));
    expect(d.stdout).toMatch(new RegExp(`^@@ee size ${A} \\d+ 2026-11-22T10:00:00.000Z\\n$`));
  });
});
