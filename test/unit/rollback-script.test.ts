/** rollbackScript (the single-exec rollback), run by a real `sh` against a throwaway layout. */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROLLBACK_COMMIT, ROLLBACK_FROM, ROLLBACK_TO, rollbackScript } from '../../src/remote/steps/rollback.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-rbscript-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;

function layout(ids: string[], current: string, bad: string[] = []): string {
  const root = path.join(tmp, `r${n++}`);
  for (const id of ids) {
    mkdirSync(path.join(root, 'releases', id), { recursive: true });
    writeFileSync(path.join(root, 'releases', id, 'REVISION'), `rev-${id}\n`);
  }
  for (const id of bad) writeFileSync(path.join(root, 'releases', id, 'BAD_RELEASE'), 'x\n');
  mkdirSync(path.join(root, '.ee-deploy'), { recursive: true });
  symlinkSync(`releases/${current}`, path.join(root, 'current'));
  return root;
}

function run(root: string, o: { release?: string; hooks?: string[] } = {}): { code: number; out: string } {
  const cmd = rollbackScript({
    root,
    lockInfo: '{"token":"tok"}',
    token: 'tok',
    release: o.release,
    hooks: o.hooks ?? [],
    hookEnv: { EE_PROJECT: 'shop' },
    historyLine: JSON.stringify({ id: ROLLBACK_TO, from: ROLLBACK_FROM, commit: ROLLBACK_COMMIT, message: 'a * b ? [c] $x' }),
    revisionsPrefix: 'alice rolled back to release ',
  });
  try {
    return { code: 0, out: execFileSync('sh', ['-c', cmd.text], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
  } catch (e) {
    const x = e as { status: number; stdout: string };
    return { code: x.status, out: x.stdout };
  }
}

const cur = (root: string) => readlinkSync(path.join(root, 'current'));

describe('rollbackScript', () => {
  it('goes to the newest older release without BAD_RELEASE, ordering -N suffixes numerically', () => {
    const ids = ['20260101000000', '20260101000000-2', '20260101000000-10', '20260102000000', '20260103000000'];
    const root = layout(ids, '20260103000000', ['20260102000000']);
    const r = run(root);
    expect(r.code).toBe(0);
    expect(r.out).toContain('@@ee plan 20260103000000 20260101000000-10');
    expect(r.out).toContain('@@ee finished');
    expect(cur(root)).toBe('releases/20260101000000-10');
    expect(existsSync(path.join(root, '.ee-deploy', 'lock'))).toBe(false);
    const hist = JSON.parse(readFileSync(path.join(root, '.ee-deploy', 'history.jsonl'), 'utf8'));
    expect(hist).toEqual({ id: '20260101000000-10', from: '20260103000000', commit: 'rev-20260101000000-10', message: 'a * b ? [c] $x' });
    expect(readFileSync(path.join(root, 'revisions.log'), 'utf8')).toBe('alice rolled back to release 20260101000000-10\n');
  });

  it('reads an absolute current link (Capistrano writes them) and writes a relative one', () => {
    const ids = ['20260101000000', '20260102000000', '20260103000000'];
    const root = layout(ids, '20260103000000');
    rmSync(path.join(root, 'current'));
    symlinkSync(path.join(root, 'releases', '20260103000000'), path.join(root, 'current'));
    const r = run(root);
    expect(r.code).toBe(0);
    expect(r.out).toContain('@@ee plan 20260103000000 20260102000000');
    expect(cur(root)).toBe('releases/20260102000000');
  });

  it('a named release, even a bad one (its marker is cleared); hooks see the release', () => {
    const root = layout(['20260101000000', '20260102000000', '20260103000000'], '20260103000000', ['20260101000000']);
    const r = run(root, { release: '20260101000000', hooks: ['echo "hook $EE_RELEASE from $EE_PREVIOUS_RELEASE in $(basename "$(pwd -P)") for $EE_PROJECT"'] });
    expect(r.code).toBe(0);
    expect(r.out).toContain('hook 20260101000000 from 20260103000000 in 20260101000000 for shop');
    expect(cur(root)).toBe('releases/20260101000000');
    expect(existsSync(path.join(root, 'releases', '20260101000000', 'BAD_RELEASE'))).toBe(false);
  });

  it('declines, changing nothing, whenever the usual path would decide', () => {
    // no previous release
    let root = layout(['20260101000000'], '20260101000000');
    expect(run(root).out).toContain('@@ee fallback noprevious');
    expect(existsSync(path.join(root, '.ee-deploy', 'lock'))).toBe(false);
    // unknown / current release named
    root = layout(['20260101000000', '20260102000000'], '20260102000000');
    expect(run(root, { release: '20260105000000' }).out).toContain('@@ee fallback unknown');
    expect(run(root, { release: '20260102000000' }).out).toContain('@@ee fallback current');
    // the lock is held: left alone
    mkdirSync(path.join(root, '.ee-deploy', 'lock'));
    writeFileSync(path.join(root, '.ee-deploy', 'lock', 'info'), '{"token":"other"}\n');
    expect(run(root).out).toContain('@@ee fallback lock');
    expect(readFileSync(path.join(root, '.ee-deploy', 'lock', 'info'), 'utf8')).toContain('other');
    expect(cur(root)).toBe('releases/20260102000000');
    // no layout at all
    expect(run(path.join(tmp, 'nothing-here')).out).toContain('@@ee fallback nolayout');
  });

  it('a failing hook exits 1 after the switch, with the lock still held for the client to record', () => {
    const root = layout(['20260101000000', '20260102000000'], '20260102000000');
    const r = run(root, { hooks: ['exit 3'] });
    expect(r.code).toBe(1);
    expect(r.out).toContain('@@ee switched 20260101000000');
    expect(r.out).toContain('@@ee hook-failed after_rollback 0 3');
    expect(r.out).not.toContain('@@ee finished');
    expect(existsSync(path.join(root, '.ee-deploy', 'lock'))).toBe(true);
  });
  it('holding the lock (the run opened the host first): the named target, recorded and unlocked only when asked', () => {
    const sh = (cmd: { text: string }) => execFileSync('sh', ['-c', cmd.text], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const lockDir = (root: string) => path.join(root, '.ee-deploy', 'lock');
    const hold = (root: string) => {
      mkdirSync(lockDir(root));
      writeFileSync(path.join(lockDir(root), 'info'), '{"token":"run"}\n');
    };
    // a bad release named by the run's plan (the previous one is never bad): the marker stays
    let root = layout(['20260101000000', '20260102000000', '20260103000000'], '20260103000000', ['20260101000000']);
    hold(root);
    let out = sh(rollbackScript({ root, token: 'run', release: '20260102000000', clearBad: false, hooks: [], hookEnv: {} }));
    expect(out).toContain('@@ee plan 20260103000000 20260102000000');
    expect(out).toContain('@@ee switched 20260102000000');
    expect(out).not.toContain('@@ee finished');
    expect(cur(root)).toBe('releases/20260102000000');
    expect(existsSync(lockDir(root))).toBe(true);
    expect(existsSync(path.join(root, '.ee-deploy', 'history.jsonl'))).toBe(false);
    // with the history line: recorded, and the run's lock released
    root = layout(['20260101000000', '20260102000000'], '20260102000000');
    hold(root);
    out = sh(rollbackScript({ root, token: 'run', release: '20260101000000', clearBad: false, hooks: [], hookEnv: {}, historyLine: JSON.stringify({ id: ROLLBACK_TO, from: ROLLBACK_FROM }), revisionsPrefix: 'bob rolled back to release ' }));
    expect(out).toContain('@@ee finished');
    expect(existsSync(lockDir(root))).toBe(false);
    expect(JSON.parse(readFileSync(path.join(root, '.ee-deploy', 'history.jsonl'), 'utf8'))).toEqual({ id: '20260101000000', from: '20260102000000' });
    // a run that holds the lock always names the target
    expect(() => rollbackScript({ root, token: 'run', hooks: [], hookEnv: {} })).toThrow(/names the release/);
  });
});
