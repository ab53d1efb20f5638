/** The backup / migrate / restore step scripts, run by a real `sh` against a temp deploy root. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { dbStepScript, fillPlaceholders, parseDbStep, pruneBackupsLines } from '../../src/remote/steps/migrate.js';
import { baseVars } from '../../src/remote/steps/common.js';
import { script } from '../../src/remote/shell.js';

const TOKEN = 'tok123';
function root(): string {
  const r = mkdtempSync(path.join(os.tmpdir(), 'ee-db-'));
  for (const id of ['20260101000000', '20260102000000']) mkdirSync(path.join(r, 'releases', id), { recursive: true });
  mkdirSync(path.join(r, '.ee-deploy', 'lock'), { recursive: true });
  writeFileSync(path.join(r, '.ee-deploy', 'lock', 'info'), `{"user":"a","token":"${TOKEN}"}\n`);
  return r;
}
function sh(text: string) {
  const r = spawnSync('sh', ['-c', text], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('db step scripts', () => {
  it('placeholders: {dir} is the quoted backup dir variable, {id} the release id', () => {
    expect(fillPlaceholders('pg_dump app > {dir}/db-{id}.sql', '20260102000000')).toBe('pg_dump app > "$EE_BACKUP_DIR"/db-20260102000000.sql');
    expect(() => fillPlaceholders('x', '../etc')).toThrow();
  });

  it('backup writes into <path>/backups/<id>/, cwd = the release, env passed; restore reads it', () => {
    const r = root();
    const b = sh(dbStepScript({ step: 'backup', root: r, release: '20260102000000', command: 'pwd > {dir}/cwd; echo "$EE_RELEASE {id}" > {dir}/db.sql', env: { EE_RELEASE: '20260102000000' }, lockToken: TOKEN }).text);
    expect(b.code, b.stderr).toBe(0);
    expect(parseDbStep(b.stdout, 'backup')).toEqual({ done: true, code: undefined, noBackup: undefined });
    expect(readFileSync(path.join(r, 'backups/20260102000000/db.sql'), 'utf8')).toBe('20260102000000 20260102000000\n');
    expect(readFileSync(path.join(r, 'backups/20260102000000/cwd'), 'utf8').trim()).toBe(path.join(r, 'releases/20260102000000'));
    // restore: cwd = the release returned to, {dir} = the backup of the release being left
    const rs = sh(dbStepScript({ step: 'restore', root: r, release: '20260101000000', backupOf: '20260102000000', command: 'cp {dir}/db.sql restored; pwd >> restored', env: {}, lockToken: TOKEN }).text);
    expect(rs.code, rs.stderr).toBe(0);
    expect(readFileSync(path.join(r, 'releases/20260101000000/restored'), 'utf8')).toContain('20260102000000 20260102000000');
  });

  it('a failing command: exit 1, its code reported; restore without a backup is refused', () => {
    const r = root();
    const m = sh(dbStepScript({ step: 'migrate', root: r, release: '20260102000000', command: 'echo migrating; exit 9', env: {}, lockToken: TOKEN }).text);
    expect(m.code).toBe(1);
    expect(parseDbStep(m.stdout, 'migrate')).toMatchObject({ done: false, code: 9 });
    expect(m.stderr).toContain('failed migrate command exited 9');
    const rs = sh(dbStepScript({ step: 'restore', root: r, release: '20260101000000', backupOf: '20260102000000', command: 'true', env: {}, lockToken: TOKEN }).text);
    expect(rs.code).toBe(1);
    expect(parseDbStep(rs.stdout, 'restore').noBackup).toBe(true);
  });

  it('runs only while the lock carries the run token', () => {
    const r = root();
    const m = sh(dbStepScript({ step: 'migrate', root: r, release: '20260102000000', command: 'touch ran', env: {}, lockToken: 'other' }).text);
    expect(m.code).toBe(1);
    expect(m.stderr).toContain('no longer held');
    expect(existsSync(path.join(r, 'releases/20260102000000/ran'))).toBe(false);
  });

  it('old backups of releases that are gone are dropped; newer ones (a failed deploy) stay', () => {
    const r = root();
    for (const id of ['20250101000000', '20260102000000', '20270101000000']) mkdirSync(path.join(r, 'backups', id), { recursive: true });
    const p = sh(script(baseVars(r), ...pruneBackupsLines('20260102000000')).text);
    expect(p.code, p.stderr).toBe(0);
    expect(existsSync(path.join(r, 'backups/20250101000000'))).toBe(false);
    expect(existsSync(path.join(r, 'backups/20260102000000'))).toBe(true);
    expect(existsSync(path.join(r, 'backups/20270101000000'))).toBe(true);
  });
});
