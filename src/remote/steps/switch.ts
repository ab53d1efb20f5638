/**
 * The `switch` step: point `current` at releases/<id> atomically, then run the after_switch (or,
 * when a deploy puts a host back, after_rollback) hooks in current.
 */
import { MARK, tagged } from '../protocol.js';
import { script, type Cmd } from '../shell.js';
import { layout } from '../layout.js';
import { assertReleaseId } from '../release-id.js';
import { baseVars, type Vars } from './common.js';
import { hookLines, parseHookFailure, type HookFailure } from './hooks.js';
import { IS_RELEASE } from './previous.js';
import { JOIN_RUN, OURS } from './lock.js';

/**
 * Point `current` at `target` atomically: a fresh symlink at "$TMP" renamed over it (`mv -T` on
 * GNU; BusyBox mv has no -T, and renaming a symlink over a symlink is atomic there too), then
 * drop the release's pending marker. `target` and `id` are shell words of the calling script.
 */
export function atomicSwitchLines(target: string, id: string): string[] {
  return [
    // (tests before rm: each fork counts in a one-exec rollback)
    `{ { [ ! -e "$TMP" ] && [ ! -L "$TMP" ]; } || rm -f "$TMP"; } && ln -s ${target} "$TMP" || { echo "${MARK} failed cannot create symlink" >&2; exit 1; }`,
    `if mv -T "$TMP" "$CURRENT" 2>/dev/null; then :; else`,
    `  if [ -L "$CURRENT" ] || [ ! -e "$CURRENT" ]; then mv -f "$TMP" "$CURRENT" || { rm -f "$TMP"; echo "${MARK} failed cannot switch current" >&2; exit 1; }`,
    `  else rm -f "$TMP"; echo "${MARK} failed $CURRENT exists and is not a symlink" >&2; exit 1; fi`,
    `fi`,
    `echo "${MARK} switched ${id}"`,
    `[ ! -e "$PENDING/${id}" ] || rm -f "$PENDING/${id}"`,
  ];
}

export function switchScript(o: {
  root: string;
  id: string;
  hooks: string[];
  hookEnv: Record<string, string>;
  phase: 'after_switch' | 'after_rollback';
  clearBad?: boolean;
  /** switch only while the lock still carries this token (a deploy's forward switch) */
  lockToken?: string;
  /** hooks_timeout, per hook command */
  hooksTimeoutMs?: number;
}): Cmd {
  assertReleaseId(o.id);
  const vars: Vars = { ...baseVars(o.root), ID: o.id, TARGET: `releases/${o.id}`, TMP: `${layout(o.root).root}/.ee-current-${o.id}`, TOKEN: o.lockToken ?? '' };
  const body: string[] = [
    OURS,
    `ours || { echo "${MARK} failed the deploy lock is no longer held by this run" >&2; exit 1; }`,
    JOIN_RUN,
    IS_RELEASE,
    `isrelease "$RELEASES/$ID" || { echo "${MARK} failed release $ID does not exist (or is no release: not a directory, or no REVISION)" >&2; exit 1; }`,
    o.clearBad ? `rm -f "$RELEASES/$ID/BAD_RELEASE"` : '',
    ...atomicSwitchLines('"$TARGET"', '$ID'),
    ...hookLines(o.hooks, o.hookEnv, vars, o.phase, '"$CURRENT"', ':', o.hooksTimeoutMs),
  ].filter(Boolean);
  return script(vars, ...body);
}

export interface SwitchAnswer {
  /** the release `current` was switched to, if the switch happened */
  switched?: string;
  /** a hook that failed after the switch */
  hookFailed?: HookFailure;
}

export function parseSwitch(stdout: string, phase?: string): SwitchAnswer {
  return { switched: tagged(stdout, 'switched').pop(), hookFailed: parseHookFailure(stdout, phase) };
}
