/** rollbackScript (the single-exec rollback), run by a real `sh` against a throwaway layout. */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rollbackScript, SignWatch } from '../../src/remote/steps/rollback.js';

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

/** the line a client answers the script's `sign` request with (stdin) */
const LINE = JSON.stringify({ id: 'x', message: 'a * b ? [c] $x' });

function run(root: string, o: { release?: string; hooks?: string[]; input?: string } = {}): { code: number; out: string } {
  const cmd = rollbackScript({
    root,
    lockInfo: '{"token":"tok"}',
    token: 'tok',
    release: o.release,
    hooks: o.hooks ?? [],
    hookEnv: { EE_PROJECT: 'shop', EE_DEPLOY_PATH: root },
    record: { revisionsPrefix: 'alice rolled back to release ' },
  });
  try {
    return { code: 0, out: execFileSync('sh', ['-c', cmd.text], { encoding: 'utf8', input: o.input ?? `${LINE}\n`, stdio: ['pipe', 'pipe', 'pipe'] }) };
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
    writeFileSync(path.join(root, '.ee-deploy', 'history.jsonl'), '{"id":"first"}\n{"id":"last one"}\n');
    const r = run(root);
    expect(r.code).toBe(0);
    expect(r.out).toContain('@@ee plan 20260103000000 20260101000000-10');
    expect(r.out).toContain('@@ee finished');
    // what the client needs to build and sign the line, asked for after the switch
    expect(new SignWatch().write(r.out)).toEqual({ from: '20260103000000', to: '20260101000000-10', commit: 'rev-20260101000000-10', lastHistory: '{"id":"last one"}' });
    expect(r.out.indexOf('@@ee sign')).toBeGreaterThan(r.out.indexOf('@@ee switched'));
    expect(cur(root)).toBe('releases/20260101000000-10');
    expect(existsSync(path.join(root, '.ee-deploy', 'lock'))).toBe(false);
    const hist = readFileSync(path.join(root, '.ee-deploy', 'history.jsonl'), 'utf8');
    expect(hist).toBe(`{"id":"first"}\n{"id":"last one"}\n${LINE}\n`);
    expect(readFileSync(path.join(root, 'revisions.log'), 'utf8')).toBe('alice rolled back to release 20260101000000-10\n');
  });

  it('records nothing when the client is gone (stdin ends without a line), and never after losing the lock', () => {
    let root = layout(['20260101000000', '20260102000000'], '20260102000000');
    // (its stdin ends at once: the watcher ends the run wherever it is)
    let r = run(root, { input: '' });
    expect(r.code).not.toBe(0);
    expect(r.out).not.toContain('@@ee finished');
    expect(existsSync(path.join(root, '.ee-deploy', 'history.jsonl'))).toBe(false);
    expect(existsSync(path.join(root, 'revisions.log'))).toBe(false);
    // a hook that hands the lock to someone else stands for a run whose lock was taken over
    root = layout(['20260101000000', '20260102000000'], '20260102000000');
    r = run(root, { hooks: [`printf '%s\\n' '{"token":"other"}' > "$EE_DEPLOY_PATH/.ee-deploy/lock/info"`] });
    expect(r.out).toContain('@@ee unrecorded lost the lock');
    expect(existsSync(path.join(root, '.ee-deploy', 'history.jsonl'))).toBe(false);
    expect(readFileSync(path.join(root, '.ee-deploy', 'lock', 'info'), 'utf8')).toContain('other');
  });

  it('SignWatch answers once, only when the sign line is complete, across chunks', () => {
    const w = new SignWatch();
    expect(w.write('@@ee plan 20260102000000 2026010100')).toBeUndefined();
    expect(w.write('0000\nhook says hi\n@@ee histlast {"a": 1}\n@@ee si')).toBeUndefined();
    expect(w.write('gn abc')).toBeUndefined();
    expect(w.write('\n')).toEqual({ from: '20260102000000', to: '20260101000000', commit: 'abc', lastHistory: '{"a": 1}' });
    expect(w.write('@@ee sign again\n')).toBeUndefined();
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
    out = execFileSync('sh', ['-c', rollbackScript({ root, token: 'run', release: '20260101000000', clearBad: false, hooks: [], hookEnv: {}, record: { revisionsPrefix: 'bob rolled back to release ' } }).text], { encoding: 'utf8', input: '{"id":"y"}\n' });
    expect(out).toContain('@@ee finished');
    expect(existsSync(lockDir(root))).toBe(false);
    expect(readFileSync(path.join(root, '.ee-deploy', 'history.jsonl'), 'utf8')).toBe('{"id":"y"}\n');
    expect(readFileSync(path.join(root, 'revisions.log'), 'utf8')).toBe('bob rolled back to release 20260101000000\n');
    // a run that holds the lock always names the target
    expect(() => rollbackScript({ root, token: 'run', hooks: [], hookEnv: {} })).toThrow(/names the release/);
  });
});
