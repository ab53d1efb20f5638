/**
 * User hooks inside a step script (before_switch in prepare, after_switch / after_rollback in
 * switch and rollback): each in its own `sh -c`, so `exit` or `set -e` inside a hook cannot end
 * the step's script. A failing hook is reported with a `hook-failed` tag and a `failed` reason.
 */
import { MARK, tags } from '../protocol.js';
import type { Vars } from './common.js';

/** Runs `hooks` in `cwdExpr`; on failure prints the tags, runs `onFail` and exits 1. */
export function hookLines(hooks: string[], env: Record<string, string>, vars: Vars, phase: string, cwdExpr: string, onFail: string): string[] {
  if (hooks.length === 0) return [];
  const out: string[] = [];
  const exports: string[] = [];
  for (const [k, v] of Object.entries(env)) {
    vars[k] = v;
    exports.push(k);
  }
  if (exports.length) out.push(`export ${exports.join(' ')}`);
  hooks.forEach((h, i) => {
    vars[`HOOK_${i}`] = h;
    out.push(`echo "${MARK} hook ${phase} ${i}"`);
    // `hook-failed` (stdout) is parsed by parseHookFailure; `failed` (stderr) becomes the error message
    out.push(
      `( cd ${cwdExpr} && exec sh -c "$HOOK_${i}" ) </dev/null || { rc=$?; echo "${MARK} hook-failed ${phase} ${i} $rc"; echo "${MARK} failed ${phase} hook #${i + 1} exited $rc" >&2; ${onFail}; exit 1; }`,
    );
  });
  return out;
}

export interface HookFailure {
  phase: string;
  /** 0-based position in the phase's hook list */
  index: number;
  code: number;
}

/** the hook that failed, from a step's stdout (of `phase` only, when given) */
export function parseHookFailure(stdout: string, phase?: string): HookFailure | undefined {
  const t = tags(stdout).find((x) => x.kind === 'hook-failed' && (phase === undefined || x.words[0] === phase));
  if (!t) return undefined;
  return { phase: t.words[0], index: Number(t.words[1]), code: Number(t.words[2]) };
}
