/**
 * The `finish` step, a run's last exec on a host: append history and revisions.log, mark or
 * remove the failed release, prune (the prune rule: prune.ts), release the lock if we hold it.
 * With `unlockToken`, only while the lock still carries it: otherwise nothing at all.
 */
import { hasTag, MARK } from '../protocol.js';
import { script, type Cmd } from '../shell.js';
import { assertReleaseId } from '../release-id.js';
import { baseVars, DISCARD, MAKE_META, READ_CURRENT, type Vars } from './common.js';
import { JOIN_RUN, OURS, RELEASE } from './lock.js';
import { pruneBackupsLines } from './migrate.js';
import { parsePruned, pruneLines } from './prune.js';

/** sh lines appending $HLINE to the history and $RLINE to revisions.log ($META must exist) */
export const APPEND_HISTORY = `printf '%s\\n' "$HLINE" >> "$HISTORY" || echo "${MARK} warn cannot append history"`;
export const APPEND_REVLOG = `printf '%s\\n' "$RLINE" >> "$REVLOG" || echo "${MARK} warn cannot append revisions.log"`;

export function finishScript(o: {
  root: string;
  historyLine?: string;
  revisionsLine?: string;
  markBad?: { id: string; text: string };
  removeRelease?: string;
  /** a release prepared for later (the rest of a `deploy --canary-only`): drop its pending marker so the next run keeps it */
  keepPrepared?: string;
  prune?: string[];
  /** after a successful deploy of this id: drop backups (migrate.ts) of releases that are gone and older */
  pruneBackupsBefore?: string;
  unlockToken?: string;
}): Cmd {
  const vars: Vars = { ...baseVars(o.root), HLINE: o.historyLine ?? '', RLINE: o.revisionsLine ?? '', TOKEN: o.unlockToken ?? '' };
  const body: string[] = [
    MAKE_META,
    DISCARD,
    OURS,
    // a run whose lock was taken over (or lifted by hand) records nothing and prunes nothing
    `ours || { echo "${MARK} failed the deploy lock is no longer held by this run: nothing recorded" >&2; exit 1; }`,
    JOIN_RUN,
  ];
  if (o.historyLine) body.push(APPEND_HISTORY);
  if (o.revisionsLine) body.push(APPEND_REVLOG);
  if (o.markBad) {
    vars.BAD_ID = assertReleaseId(o.markBad.id);
    vars.BAD_TEXT = o.markBad.text;
    // never written through a link: a release dir that is a symlink, or a BAD_RELEASE the release
    // itself holds as a link, would carry the write outside the deploy path
    body.push(`[ -d "$RELEASES/$BAD_ID" ] && [ ! -L "$RELEASES/$BAD_ID" ] && rm -f "$RELEASES/$BAD_ID/BAD_RELEASE" && printf '%s\\n' "$BAD_TEXT" > "$RELEASES/$BAD_ID/BAD_RELEASE"`);
  }
  if (o.keepPrepared) {
    vars.KEEP_ID = assertReleaseId(o.keepPrepared);
    body.push(`rm -f "$PENDING/$KEEP_ID"`);
  }
  if (o.removeRelease) {
    vars.RM_ID = assertReleaseId(o.removeRelease);
    // also an upload that was cut off (its prepare script killed before it could clean up)
    body.push(`${READ_CURRENT}; [ "$cur" = "releases/$RM_ID" ] || { discard "$RELEASES/$RM_ID"; rm -f "$MANIFESTS/$RM_ID"; }; rm -f "$PENDING/$RM_ID"; rm -rf "$STAGING/$RM_ID"`);
  }
  body.push(...pruneLines(o.prune ?? [], vars));
  if (o.pruneBackupsBefore) body.push(...pruneBackupsLines(o.pruneBackupsBefore));
  if (o.unlockToken) body.push(RELEASE);
  body.push(`echo "${MARK} finished"`);
  return script(vars, ...body);
}

export interface FinishAnswer {
  /** the script ran to its end */
  finished: boolean;
  pruned: string[];
}

export function parseFinish(stdout: string): FinishAnswer {
  return { finished: hasTag(stdout, 'finished', ''), pruned: parsePruned(stdout) };
}
