/**
 * migrate: and backup: over two real sshd hosts: once per deploy, on the migrate host, in the
 * new release, after every host is prepared, before any switch, under the lock; a failure
 * switches nothing; backups in <path>/backups/<id>/ pruned with their release;
 * rollback --restore-backup.
 */
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshd, type SshdFixture } from '../helpers/sshd.js';
import { cli, current, historyRecords, isLocked, newProject, releases, server, type Project } from '../helpers/deploy-env.js';

let f: SshdFixture;
let tmp: string;
let p: Project;
let web1: string;
let web2: string;
let db: string;
let log: string;

beforeAll(async () => {
  f = await startSshd({ servers: [server('web1'), server('web2')] });
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-migrate-'));
  web1 = path.join(tmp, 'web1');
  web2 = path.join(tmp, 'web2');
  db = path.join(tmp, 'db.txt'); // the "database"
  log = path.join(tmp, 'migrate.log');
  writeFileSync(db, 'schema 0\n');
  p = newProject({ hosts: [{ host: 'web1', path: web1 }, { host: 'web2', path: web2 }], keep: 2 });
  appendFileSync(
    p.config,
    `migrate:
  host: web2
  command: '[ ! -e ${tmp}/FAIL_MIGRATE ] || exit 3; echo "migrate $EE_HOST {id} cwd=$(pwd) current=$(readlink ../../current || echo none) web1-prepared=$([ -f ${web1}/releases/$EE_RELEASE/REVISION ] && echo yes) web1-current=$(readlink ${web1}/current || echo none) locked=$([ -d ../../.ee-deploy/lock ] && echo yes)" >> ${log}; echo "schema {id}" >> ${db}'
backup:
  command: '[ ! -e ${tmp}/FAIL_BACKUP ] || exit 4; cp ${db} {dir}/db.sql'
  restore: 'cp {dir}/db.sql ${db}; echo "restored {id} in $(pwd)" >> ${log}'
`,
  );
});
afterAll(async () => {
  await f?.stopAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const run = (args: string[]) => cli(f.home, p.dir, args);
const logLines = () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []);

describe('migrate and backup', () => {
  let first: string;
  let second: string;

  it('run once, on the migrate host, in the new release, after every host is prepared, before any switch, under the lock', async () => {
    const r = await run(['deploy']);
    expect(r.code, r.stderr).toBe(0);
    first = current(web1)!;
    expect(current(web2)).toBe(first);
    expect(logLines()).toEqual([`migrate web2 ${first} cwd=${web2}/releases/${first} current=none web1-prepared=yes web1-current=none locked=yes`]);
    expect(r.stdout).toMatch(/backup on web2 into .*\/backups\/\d{14}/);
    expect(r.stdout).toMatch(/migrate on web2 ok/);
    // the backup is on the migrate host only, taken before the migration
    expect(readFileSync(path.join(web2, 'backups', first, 'db.sql'), 'utf8')).toBe('schema 0\n');
    expect(existsSync(path.join(web1, 'backups'))).toBe(false);

    writeFileSync(path.join(p.app, 'index.html'), 'v2\n');
    const r2 = await run(['deploy']);
    expect(r2.code, r2.stderr).toBe(0);
    second = current(web1)!;
    expect(logLines()).toHaveLength(2);
    expect(logLines()[1]).toBe(`migrate web2 ${second} cwd=${web2}/releases/${second} current=releases/${first} web1-prepared=yes web1-current=releases/${first} locked=yes`);
    expect(readFileSync(path.join(web2, 'backups', second, 'db.sql'), 'utf8')).toBe(`schema 0\nschema ${first}\n`);
  });

  it('a failing migration: exit 1, nothing switched, the release gone, no lock; the backup kept', async () => {
    writeFileSync(path.join(tmp, 'FAIL_MIGRATE'), '');
    writeFileSync(path.join(p.app, 'index.html'), 'v3\n');
    const r = await run(['deploy']);
    rmSync(path.join(tmp, 'FAIL_MIGRATE'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: web2: migrate failed: migrate command exited 3/m);
    expect(current(web1)).toBe(second);
    expect(current(web2)).toBe(second);
    expect(releases(web1)).toEqual([first, second]);
    expect(releases(web2)).toEqual([first, second]);
    expect(isLocked(web1) || isLocked(web2)).toBe(false);
    const failed = historyRecords(web2).at(-1)!;
    expect(failed).toMatchObject({ status: 'failed' });
    expect(existsSync(path.join(web2, 'backups', String(failed.id), 'db.sql'))).toBe(true);
  });

  it('a failing backup: exit 1, no migration, nothing switched', async () => {
    writeFileSync(path.join(tmp, 'FAIL_BACKUP'), '');
    const before = logLines().length;
    const r = await run(['deploy']);
    rmSync(path.join(tmp, 'FAIL_BACKUP'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: web2: backup failed: backup command exited 4/m);
    expect(logLines()).toHaveLength(before);
    expect(current(web1)).toBe(second);
    expect(current(web2)).toBe(second);
  });

  it('rollback --restore-backup: restores the backup taken before the release being left, then switches back', async () => {
    writeFileSync(db, 'schema 0\nschema first\nschema second\n');
    const r = await run(['rollback', '--restore-backup', '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(current(web1)).toBe(first);
    expect(current(web2)).toBe(first);
    // backups/<second> holds the database as it was before `second` migrated it
    expect(readFileSync(db, 'utf8')).toBe(`schema 0\nschema ${first}\n`);
    expect(logLines().at(-1)).toBe(`restored ${second} in ${web2}/releases/${first}`);
    // no backup of the release being left: refused (exit 2), nothing switched, no lock
    expect((await run(['rollback', second, '--yes'])).code).toBe(0);
    rmSync(path.join(web2, 'backups', second), { recursive: true });
    const again = await run(['rollback', '--restore-backup', '--yes']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(new RegExp(`^error: web2: no backup of release ${second} in .*backups/${second}.*nothing was changed`, 'm'));
    expect(current(web1)).toBe(second);
    expect(current(web2)).toBe(second);
    expect(isLocked(web1) || isLocked(web2)).toBe(false);
  });

  it('backups are pruned with their release; a migrate host outside --hosts is refused (exit 2)', async () => {
    for (const v of ['v4', 'v5', 'v6']) {
      writeFileSync(path.join(p.app, 'index.html'), `${v}\n`);
      const r = await run(['deploy']);
      expect(r.code, r.stderr).toBe(0);
    }
    const kept = releases(web2);
    const backups = (await import('node:fs')).readdirSync(path.join(web2, 'backups')).sort();
    for (const b of backups) expect(kept).toContain(b);
    const r = await run(['deploy', '--hosts', 'web1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: migrate\.host web2 is not among the selected hosts/m);
  });
});
