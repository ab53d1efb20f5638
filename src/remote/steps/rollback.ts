/**
 * The `rollback` step, the one way a rollback command changes a host: pick the target (the named
 * release, or the previous release: previous.ts), switch `current` to it, run the after_rollback
 * hooks, and, when the outcome is known once this exec ends (`record`), append history and
 * revisions.log and release the lock. With `lockInfo` it takes the lock itself, so a rollback of
 * one host is a single exec; without, the run already holds it (open step).
 * Recording inside the exec is one round trip on the same channel: once the hooks are done the
 * script prints what the history line needs (the history's last line, whose hash the new line
 * names, and the target's commit: `histlast`, then `sign <commit>`), then reads the line the
 * client built and signed from its stdin and appends it. No line arrives (the client is gone):
 * nothing is recorded.
 * Whenever the client would decide differently or report an error (lock held, no layout, unknown
 * or current release, no previous release, odd `current`), it releases what it took and prints
 * `fallback <why>`, changing nothing: the client then opens the host the usual way, which names
 * the problem. A failed switch or hook exits 1 with the lock still held: the client records and
 * unlocks (finish step).
 */
import { hasTag, MARK, tags } from '../protocol.js';
import { script, type Cmd } from '../shell.js';
import { assertReleaseId } from '../release-id.js';
import { baseVars, READ_CURRENT, type Vars } from './common.js';
import { hookLines } from './hooks.js';
import { ownerCheck } from './ownership.js';
import { END_RUN, JOIN_RUN, OURS, PROC_LIVENESS, RELEASE, TAKE, WRITE_GUARD, WRITE_INFO } from './lock.js';
import { ID_PATTERN, PREVIOUS } from './previous.js';
import { atomicSwitchLines } from './switch.js';

export interface RollbackStepOptions {
  root: string;
  /** the run's lock token: released at the end when `record` is given */
  token: string;
  /** take the lock here, writing this record; without it the run already holds the lock */
  lockInfo?: string;
  /** the target; default: the previous release */
  release?: string;
  /** remove the target's BAD_RELEASE marker (default: when `release` is given, a release the user named) */
  clearBad?: boolean;
  hooks: string[];
  /** hook environment except EE_RELEASE, EE_RELEASE_PATH, EE_PREVIOUS_RELEASE (set by the script) */
  hookEnv: Record<string, string>;
  /**
   * given: record the rollback and unlock in this exec, appending the history line read from
   * stdin (see signRequest) and this revisions.log line up to the release id ("alice rolled back
   * to release ")
   */
  record?: { revisionsPrefix: string };
  /** hooks_timeout, per hook command */
  hooksTimeoutMs?: number;
  /** the project rolling back: another project's path is declined (ownership.ts) unless `force` */
  project?: string;
  force?: boolean;
}

export function rollbackScript(o: RollbackStepOptions): Cmd {
  if (o.release) assertReleaseId(o.release);
  // holding the lock, the run has read the state and names the target itself
  if (o.lockInfo === undefined && !o.release) throw new Error('rollbackScript: a run that holds the lock names the release');
  const vars: Vars = { ...baseVars(o.root), INFO: o.lockInfo ?? '', TOKEN: o.token, WANT: o.release ?? '', RPREFIX: o.record?.revisionsPrefix ?? '', PROJECT: o.project ?? '', FORCE: o.force ? '1' : '' };
  const body: string[] = [`[ -d "$RELEASES" ] || { echo "${MARK} fallback nolayout"; exit 0; }`];
  // another project's path: the usual path (open) names it
  if (o.lockInfo !== undefined) body.push(ownerCheck(`echo "${MARK} fallback owner"; exit 0`));
  body.push(OURS);
  if (o.lockInfo !== undefined) {
    body.push(
      `${TAKE} || { echo "${MARK} fallback lock"; exit 0; }`,
      `fallback() { rm -rf "$LOCK"; echo "${MARK} fallback $1"; exit 0; }`,
      `${WRITE_INFO} || fallback lockinfo`,
      // this exec is the whole run, so it is its own guard (lock.ts): a watcher reads stdin and
      // ends the run when the client goes before it sent the history line
      PROC_LIVENESS,
      END_RUN,
      WRITE_GUARD,
      JOIN_RUN,
      `exec 3<&0; EE_LINE="$META/.ee-line.$$"`,
      `{ if IFS= read -r h <&3; then printf '%s\\n' "$h" > "$EE_LINE"; else ours && ee_end_run $$; fi; } </dev/null >/dev/null 2>&1 &`,
      `EE_W=$!; trap 'kill "$EE_W" 2>/dev/null; rm -f "$LOCK/pg.$$" "$EE_LINE" 2>/dev/null' EXIT`,
    );
  } else {
    body.push(
      `ours || { echo "${MARK} failed the deploy lock is no longer held by this run" >&2; exit 1; }`,
      JOIN_RUN,
      `fallback() { echo "${MARK} fallback $1"; exit 0; }`,
    );
  }
  body.push(
    `${READ_CURRENT}; cur=\${cur#releases/}`,
    // taking the lock here, anything unusual is left to the usual path, which names it
    o.lockInfo !== undefined ? `case $cur in ${ID_PATTERN}) ;; *) fallback current ;; esac` : '',
    `to=`,
    PREVIOUS,
    `if [ -n "$WANT" ]; then`,
    `  isrelease "$RELEASES/$WANT" || fallback unknown; [ "$WANT" = "$cur" ] && fallback current; to=$WANT`,
    `else`,
    `  previous "$cur"; to=$prev`,
    `  [ -n "$to" ] || fallback noprevious`,
    `fi`,
    `echo "${MARK} plan $cur $to"`,
  );
  if (o.clearBad ?? !!o.release) body.push(`rm -f "$RELEASES/$to/BAD_RELEASE"`);
  body.push(`TMP="$R/.ee-current-$to"`, ...atomicSwitchLines('"releases/$to"', '$to'));
  if (o.hooks.length) body.push(`EE_RELEASE=$to; EE_RELEASE_PATH="$RELEASES/$to"; EE_PREVIOUS_RELEASE=$cur; export EE_RELEASE EE_RELEASE_PATH EE_PREVIOUS_RELEASE`);
  body.push(...hookLines(o.hooks, o.hookEnv, vars, 'after_rollback', '"$CURRENT"', ':', o.hooksTimeoutMs));
  if (o.record) {
    body.push(
      `commit=; [ -f "$RELEASES/$to/REVISION" ] && IFS= read -r commit < "$RELEASES/$to/REVISION"`,
      `case $commit in *[!0-9A-Za-z._-]*) commit= ;; esac`,
      `if [ -s "$HISTORY" ]; then hl=$(tail -n 1 "$HISTORY"); [ -n "$hl" ] && printf '%s\\n' "${MARK} histlast $hl"; fi`,
      `echo "${MARK} sign $commit"`,
      // the signed line, or nothing when the client is gone (then nothing is recorded)
      o.lockInfo !== undefined ? `wait "$EE_W"; h=; { IFS= read -r h < "$EE_LINE"; } 2>/dev/null` : `h=; IFS= read -r h || h=`,
      `case $h in '{'*'}') ;; *) echo "${MARK} unrecorded"; exit 1 ;; esac`,
      // $META exists: the lock inside it is held, unless it was taken from us
      `ours || { echo "${MARK} unrecorded lost the lock"; exit 1; }`,
      `printf '%s\\n' "$h" >> "$HISTORY" || echo "${MARK} warn cannot append history"`,
      `printf '%s%s\\n' "$RPREFIX" "$to" >> "$REVLOG" || echo "${MARK} warn cannot append revisions.log"`,
      RELEASE,
      `echo "${MARK} finished"`,
    );
  }
  return script(vars, ...body.filter(Boolean));
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

/** what the history line needs, once the script asked for it (`sign`) */
export interface SignRequest {
  /** the release `current` pointed at, and the target (the `plan` tag) */
  from: string;
  to: string;
  /** the target's REVISION ('' when it has none) */
  commit: string;
  /** the history's last line ('' when empty): the new line names its hash */
  lastHistory: string;
}

/**
 * Watches the step's stdout as it streams; `write` returns the request once its line is complete
 * (and only once), so the client can answer on the same exec's stdin.
 */
export class SignWatch {
  private buf = '';
  private plan?: { from: string; to: string };
  private last = '';
  private done = false;
  write(chunk: string): SignRequest | undefined {
    if (this.done) return undefined;
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      if (!line.startsWith(`${MARK} `)) continue;
      const [t] = tags(line);
      if (t.kind === 'plan' && t.words.length === 2) this.plan = { from: t.words[0], to: t.words[1] };
      else if (t.kind === 'histlast') this.last = t.rest;
      else if (t.kind === 'sign' && this.plan) {
        this.done = true;
        return { ...this.plan, commit: t.rest, lastHistory: this.last };
      }
    }
    // a user's line without a newline can be long: keep only what could still be a tag's start
    if (this.buf.length > 4096 && !this.buf.startsWith(MARK)) this.buf = '';
    return undefined;
  }
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
