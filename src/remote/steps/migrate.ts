/**
 * Database work around a deploy, on one host (the migrate host):
 *   backup  before migrate, into <path>/backups/<id>/ (id = the release being deployed);
 *   migrate in the new release, after every host is prepared and before any switch;
 *   restore (rollback --restore-backup) with the backup taken before the release being left.
 * Each runs the user's command in its own `sh -c`, cwd = a release, only while the run's lock is
 * held. In commands `{dir}` becomes "$EE_BACKUP_DIR" (the backup directory, absolute, quoted by
 * the shell) and `{id}` the release id (digits only), so neither needs quoting by the user.
 */
import { hasTag, say, sayErr, tags } from '../protocol.js';
import { script, type Cmd } from '../shell.js';
import { assertReleaseId } from '../release-id.js';
import { baseVars, type Vars } from './common.js';
import { JOIN_RUN, OURS } from './lock.js';

export type DbStep = 'backup' | 'migrate' | 'restore';

/** `{dir}` and `{id}` filled in (see above) */
export function fillPlaceholders(command: string, id: string): string {
  assertReleaseId(id);
  return command.replace(/\{dir\}/g, '"$EE_BACKUP_DIR"').replace(/\{id\}/g, id);
}

export function backupDir(root: string, id: string): string {
  return `${root.replace(/\/+$/, '') || '/'}/backups/${assertReleaseId(id)}`;
}

/**
 * One step's script. `release` is the cwd (the new release for backup/migrate, the release
 * being returned to for restore); `backupOf` the release whose backup directory `{dir}` names.
 */
export function dbStepScript(o: { step: DbStep; root: string; release: string; backupOf?: string; command: string; env: Record<string, string>; lockToken: string }): Cmd {
  assertReleaseId(o.release);
  const backupOf = assertReleaseId(o.backupOf ?? o.release);
  const vars: Vars = { ...baseVars(o.root), ID: o.release, BID: backupOf, TOKEN: o.lockToken, STEP: o.step, DBCMD: fillPlaceholders(o.command, backupOf) };
  const exports: string[] = [];
  for (const [k, v] of Object.entries(o.env)) {
    vars[k] = v;
    exports.push(k);
  }
  const fail = (why: string) => `{ ${sayErr(`failed ${why}`)}; exit 1; }`;
  const body: string[] = [
    OURS,
    `ours || ${fail('the deploy lock is no longer held by this run')}`,
    JOIN_RUN,
    `[ -d "$RELEASES/$ID" ] || ${fail(`release $ID does not exist`)}`,
    o.step === 'backup'
      ? `mkdir -p "$R/backups/$BID" || ${fail('cannot create $R/backups/$BID')}`
      : o.step === 'restore'
        ? `[ -d "$R/backups/$BID" ] || { ${say('no-backup $BID')}; ${sayErr('failed no backup of release $BID in $R/backups/$BID')}; exit 1; }`
        : '',
    o.step === 'migrate' ? '' : `EE_BACKUP_DIR=$(cd "$R/backups/$BID" && pwd) || exit 1; export EE_BACKUP_DIR`,
    exports.length ? `export ${exports.join(' ')}` : '',
    say('db-step $STEP $ID'),
    `( cd "$RELEASES/$ID" && exec sh -c "$DBCMD" ) </dev/null || { rc=$?; ${say('db-step-failed $STEP $rc')}; ${sayErr('failed $STEP command exited $rc')}; exit 1; }`,
    say('db-step-done $STEP $ID'),
  ].filter(Boolean);
  return script(vars, ...body);
}

export interface DbStepAnswer {
  done: boolean;
  /** exit code of the user's command when it failed */
  code?: number;
  /** restore: there was no backup of that release */
  noBackup?: boolean;
}

export function parseDbStep(stdout: string, step: DbStep): DbStepAnswer {
  const failed = tags(stdout).find((t) => t.kind === 'db-step-failed' && t.words[0] === step);
  return {
    done: tags(stdout).some((t) => t.kind === 'db-step-done' && t.words[0] === step),
    code: failed ? Number(failed.words[1]) : undefined,
    noBackup: hasTag(stdout, 'no-backup') || undefined,
  };
}

/**
 * sh lines dropping backups whose release is gone and older than `current` (a failed deploy's
 * backup stays until a later deploy succeeds); pruned releases' backups go with them (prune.ts).
 */
export function pruneBackupsLines(current: string): string[] {
  assertReleaseId(current);
  return [
    `if [ -d "$R/backups" ]; then for b in "$R"/backups/*; do i=\${b##*/}; case $i in [0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]) [ -d "$RELEASES/$i" ] || [ "$i" -ge ${current} ] || rm -rf "$b" ;; esac; done; fi`,
  ];
}
