/**
 * User hooks inside a step script (before_switch in prepare, after_switch / after_rollback in
 * switch and rollback): each in its own `sh -c`, so `exit` or `set -e` inside a hook cannot end
 * the step's script. A failing hook is reported with a `hook-failed` tag and a `failed` reason.
 *
 * A hook ends when its own shell exits, not when every process it started has closed its output:
 * its output goes through a pipe to a relay that streams it line by line and stops at an end
 * marker the runner writes once the hook's shell is gone. The relay then leaves a `cat` behind
 * that drains the pipe into /dev/null, so a background process the hook started (`nohup app &`)
 * neither holds the SSH channel open nor dies of SIGPIPE when it writes later. A watchdog ends a
 * hook that runs longer than the timeout (its whole process group when `setsid` exists: `kill
 * -TERM -PGID`, since dash's kill takes no `--`).
 */
import { MARK, tags } from '../protocol.js';
import type { Vars } from './common.js';

/** the default of `hooks_timeout`: per hook command */
export const DEFAULT_HOOK_TIMEOUT_MS = 600_000;

/**
 * `ee_hook CWD COMMAND TIMEOUT_S`: run COMMAND in CWD as described above; returns its exit code.
 * $EE_TMO exists afterwards when the watchdog ended it.
 */
const HOOK_RUNNER = [
  `EE_SETSID=; command -v setsid >/dev/null 2>&1 && EE_SETSID=setsid`,
  `EE_TMO="$META/.ee-hook-timeout.$$"; EE_END="${MARK}-hook-end-$$"`,
  `ee_hook() {`,
  `  rm -f "$EE_TMO"`,
  `  {`,
  `    ( cd "$1" && exec $EE_SETSID sh -c "$2" ) </dev/null 2>&1 &`,
  // registered with the run (lock.ts JOIN_RUN), so its guard can end the hook when the client is gone
  `    p=$!; [ -n "$EE_RUN" ] && : > "$LOCK/pg.$p" 2>/dev/null`,
  // polls once a second; ends by itself within a second of the hook
  `    ( n=0; while kill -0 "$p" 2>/dev/null; do if [ "$n" -ge "$3" ]; then : > "$EE_TMO"; kill -TERM "-$p" 2>/dev/null || kill -TERM "$p"; sleep 2; kill -KILL "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null; exit 0; fi; sleep 1; n=$((n + 1)); done ) </dev/null >/dev/null 2>&1 &`,
  `    wait "$p"; rc=$?; rm -f "$LOCK/pg.$p" 2>/dev/null; echo "$EE_END $rc"`,
  `  } | {`,
  `    exec 3<&0; rc=1`,
  `    while IFS= read -r l || [ -n "$l" ]; do`,
  `      case $l in *"$EE_END "*) [ -z "\${l%%"$EE_END "*}" ] || printf '%s\\n' "\${l%%"$EE_END "*}"; rc=\${l##*"$EE_END "}; cat <&3 >/dev/null 2>&1 & exit "$rc" ;; esac`,
  `      printf '%s\\n' "$l"; l=`,
  `    done`,
  `    exit "$rc"`,
  `  }`,
  `}`,
];

/** Runs `hooks` in `cwdExpr`; on failure prints the tags, runs `onFail` and exits 1. */
export function hookLines(hooks: string[], env: Record<string, string>, vars: Vars, phase: string, cwdExpr: string, onFail: string, timeoutMs = DEFAULT_HOOK_TIMEOUT_MS): string[] {
  if (hooks.length === 0) return [];
  const out: string[] = [...HOOK_RUNNER];
  const exports: string[] = [];
  for (const [k, v] of Object.entries(env)) {
    vars[k] = v;
    exports.push(k);
  }
  if (exports.length) out.push(`export ${exports.join(' ')}`);
  vars.HOOK_TIMEOUT = String(Math.max(1, Math.ceil(timeoutMs / 1000)));
  const shown = timeoutMs % 60_000 === 0 ? `${timeoutMs / 60_000}m` : timeoutMs % 1000 === 0 ? `${timeoutMs / 1000}s` : `${timeoutMs}ms`;
  hooks.forEach((h, i) => {
    vars[`HOOK_${i}`] = h;
    out.push(`echo "${MARK} hook ${phase} ${i}"`);
    out.push(`ee_hook ${cwdExpr} "$HOOK_${i}" "$HOOK_TIMEOUT"; rc=$?`);
    // `hook-done` / `hook-failed` (stdout) are parsed below; `failed` (stderr) becomes the error message
    out.push(
      `if [ -e "$EE_TMO" ]; then rm -f "$EE_TMO"; echo "${MARK} hook-done ${phase} ${i} timeout"; echo "${MARK} hook-failed ${phase} ${i} $rc timeout"; echo "${MARK} failed ${phase} hook #${i + 1} timed out after ${shown} (hooks_timeout)" >&2; ${onFail}; exit 1; fi`,
      `echo "${MARK} hook-done ${phase} ${i} $rc"`,
      `[ "$rc" -eq 0 ] || { echo "${MARK} hook-failed ${phase} ${i} $rc"; echo "${MARK} failed ${phase} hook #${i + 1} exited $rc" >&2; ${onFail}; exit 1; }`,
    );
  });
  return out;
}

export interface HookFailure {
  phase: string;
  /** 0-based position in the phase's hook list */
  index: number;
  code: number;
  /** ended by hooks_timeout */
  timedOut?: boolean;
}

/** the hook that failed, from a step's stdout (of `phase` only, when given) */
export function parseHookFailure(stdout: string, phase?: string): HookFailure | undefined {
  const t = tags(stdout).find((x) => x.kind === 'hook-failed' && (phase === undefined || x.words[0] === phase));
  if (!t) return undefined;
  return { phase: t.words[0], index: Number(t.words[1]), code: Number(t.words[2]), ...(t.words[3] === 'timeout' ? { timedOut: true } : {}) };
}

/** One hook that ran, as seen live in a step's output. */
export interface HookRun {
  phase: string;
  index: number;
  /** exit code; undefined when ended by the timeout */
  code?: number;
  timedOut: boolean;
  /** wall time seen by the client, from the hook's start tag to its end tag */
  ms: number;
}

/**
 * Watches a step's stdout as it streams and calls `onHook` once per hook that ended, so every
 * hook gets its one line without --verbose.
 */
export class HookWatch {
  private buf = '';
  private started = new Map<string, number>();
  constructor(
    private readonly onHook: (h: HookRun) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}
  write(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      if (!line.startsWith(`${MARK} hook`)) continue;
      const [t] = tags(line);
      if (!t) continue;
      const key = `${t.words[0]} ${t.words[1]}`;
      if (t.kind === 'hook' && t.words.length === 2) this.started.set(key, this.now());
      else if (t.kind === 'hook-done' && t.words.length === 3) {
        const start = this.started.get(key);
        this.started.delete(key);
        const timedOut = t.words[2] === 'timeout';
        this.onHook({ phase: t.words[0], index: Number(t.words[1]), code: timedOut ? undefined : Number(t.words[2]), timedOut, ms: start === undefined ? 0 : this.now() - start });
      }
    }
    // a user's line without a newline can be long: keep only what could still be a tag's start
    if (this.buf.length > 4096 && !this.buf.startsWith(MARK)) this.buf = '';
  }
}
