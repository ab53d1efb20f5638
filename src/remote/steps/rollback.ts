/**
 * The `rollback` step: a whole single-host rollback in one exec. Take the lock, pick the target
 * the way the client would (the named release, or the newest release older than `current`
 * without BAD_RELEASE; ids ordered by their 14-digit stem, then the -N suffix), switch, run the
 * after_rollback hooks, append history (the line's placeholders filled in here) and
 * revisions.log, unlock.
 * Whenever the client's own path would decide differently or report an error (lock held, no
 * layout, unknown or current release, no previous release, odd `current`), it releases what it
 * took and prints `fallback <why>`: the client then runs the usual open / switch / finish.
 * A failed switch or hook exits 1 with the lock still held: the client records and unlocks.
 */
import { hasTag, MARK, tags } from '../protocol.js';
import { script, type Cmd } from '../shell.js';
import { assertReleaseId } from '../release-id.js';
import { baseVars, READ_CURRENT, type Vars } from './common.js';
import { hookLines } from './hooks.js';
import { RELEASE, TAKE, WRITE_INFO } from './lock.js';
import { atomicSwitchLines } from './switch.js';

/** placeholders of rollbackScript's history line, filled in by the script */
export const ROLLBACK_TO = '@@ee-rollback-to@@';
export const ROLLBACK_FROM = '@@ee-rollback-from@@';
export const ROLLBACK_COMMIT = '@@ee-rollback-commit@@';

const D = '[0-9]';
/** `case` patterns of a release id: 14 digits, optionally `-` and 1 to 4 digits */
const ID_PATTERN = [0, 1, 2, 3, 4].map((n) => D.repeat(14) + (n ? `-${D.repeat(n)}` : '')).join('|');

export function rollbackScript(o: {
  root: string;
  lockInfo: string;
  token: string;
  release?: string;
  hooks: string[];
  /** hook environment except EE_RELEASE, EE_RELEASE_PATH, EE_PREVIOUS_RELEASE (set by the script) */
  hookEnv: Record<string, string>;
  /** history JSON with ROLLBACK_TO / ROLLBACK_FROM / ROLLBACK_COMMIT placeholders */
  historyLine: string;
  /** revisions.log line up to the release id: "alice rolled back to release " */
  revisionsPrefix: string;
  /** hooks_timeout, per hook command */
  hooksTimeoutMs?: number;
}): Cmd {
  if (o.release) assertReleaseId(o.release);
  const vars: Vars = { ...baseVars(o.root), INFO: o.lockInfo, TOKEN: o.token, WANT: o.release ?? '', HLINE: o.historyLine, RPREFIX: o.revisionsPrefix };
  const fill = (ph: string, v: string) => `h=\${h%%${ph}*}${v}\${h#*${ph}}`;
  const body: string[] = [
    `[ -d "$RELEASES" ] || { echo "${MARK} fallback nolayout"; exit 0; }`,
    `${TAKE} || { echo "${MARK} fallback lock"; exit 0; }`,
    `fallback() { rm -rf "$LOCK"; echo "${MARK} fallback $1"; exit 0; }`,
    `${WRITE_INFO} || fallback lockinfo`,
    `${READ_CURRENT}; cur=\${cur#releases/}`,
    `case $cur in ${ID_PATTERN}) ;; *) fallback current ;; esac`,
    `older() { a=\${1%%-*}; b=\${2%%-*}; [ "$a" -lt "$b" ] && return 0; [ "$a" -gt "$b" ] && return 1; x=0; y=0; case $1 in *-*) x=\${1#*-} ;; esac; case $2 in *-*) y=\${2#*-} ;; esac; [ "$x" -lt "$y" ]; }`,
    `to=`,
    `if [ -n "$WANT" ]; then`,
    `  [ -d "$RELEASES/$WANT" ] || fallback unknown; [ "$WANT" = "$cur" ] && fallback current; to=$WANT`,
    `else`,
    `  for d in "$RELEASES"/*; do`,
    `    id=\${d##*/}; case $id in ${ID_PATTERN}) ;; *) continue ;; esac`,
    `    [ -d "$d" ] || continue; [ -e "$d/BAD_RELEASE" ] && continue; older "$id" "$cur" || continue`,
    `    if [ -z "$to" ] || older "$to" "$id"; then to=$id; fi`,
    `  done`,
    `  [ -n "$to" ] || fallback noprevious`,
    `fi`,
    `echo "${MARK} plan $cur $to"`,
    `[ -n "$WANT" ] && rm -f "$RELEASES/$to/BAD_RELEASE"`,
    `TMP="$R/.ee-current-$to"`,
    ...atomicSwitchLines('"releases/$to"', '$to'),
  ];
  if (o.hooks.length) body.push(`EE_RELEASE=$to; EE_RELEASE_PATH="$RELEASES/$to"; EE_PREVIOUS_RELEASE=$cur; export EE_RELEASE EE_RELEASE_PATH EE_PREVIOUS_RELEASE`);
  body.push(...hookLines(o.hooks, o.hookEnv, vars, 'after_rollback', '"$CURRENT"', ':', o.hooksTimeoutMs));
  body.push(
    `commit=; [ -f "$RELEASES/$to/REVISION" ] && IFS= read -r commit < "$RELEASES/$to/REVISION"`,
    `case $commit in *[!0-9A-Za-z._-]*) commit= ;; esac`,
    `h=$HLINE; ${fill(ROLLBACK_TO, '$to')}; ${fill(ROLLBACK_FROM, '$cur')}; ${fill(ROLLBACK_COMMIT, '$commit')}`,
    // $META exists: the lock inside it was taken above
    `printf '%s\\n' "$h" >> "$HISTORY" || echo "${MARK} warn cannot append history"`,
    `printf '%s%s\\n' "$RPREFIX" "$to" >> "$REVLOG" || echo "${MARK} warn cannot append revisions.log"`,
    RELEASE,
    `echo "${MARK} finished"`,
  );
  return script(vars, ...body);
}

export interface RollbackAnswer {
  /** the script declined before changing anything (`nolayout`, `lock`, `current`, `unknown`, `noprevious`, `lockinfo`) */
  fallback?: string;
  /** the release current pointed at, and the one it picked */
  plan?: { from: string; to: string };
  /** `current` now points at the target */
  switched: boolean;
  /** recorded and unlocked: the rollback is complete */
  finished: boolean;
}

export function parseRollback(stdout: string): RollbackAnswer {
  const all = tags(stdout);
  const plan = all.find((t) => t.kind === 'plan' && t.words.length === 2);
  const to = plan?.words[1];
  return {
    fallback: all.find((t) => t.kind === 'fallback')?.rest,
    plan: plan ? { from: plan.words[0], to: plan.words[1] } : undefined,
    switched: to !== undefined && hasTag(stdout, 'switched', to),
    finished: hasTag(stdout, 'finished', ''),
  };
}
