/**
 * One attempt of a script health check on one host, through its Transport. The script is the
 * user's command line (shell by definition); the directory is quoted by shell.ts.
 */
import type { Transport } from '../transport/types.js';
import { type Cmd, cmd, lines, or, raw } from '../remote/shell.js';
import { redact } from '../config/secrets.js';
import { formatSeconds, abortError } from './backoff.js';
import { oneLine } from '../util/text.js';
import type { AttemptOutcome } from './http.js';

/** lines of combined output kept in a failed result */
export const OUTPUT_TAIL_LINES = 20;
/** characters of combined output kept in memory per attempt (the tail) */
const OUTPUT_KEEP_CHARS = 64 * 1024;
/** how long past its timeout a transport may take to report the kill before we stop waiting */
export const TIMEOUT_GRACE_MS = 1000;

/**
 * `cd <dir> || exit 1` then the script on its own line: the script's own operators (`a; b`,
 * `a || b`) can never run outside `dir` the way `cd <dir> && a; b` would.
 */
export function scriptCommand(dir: string, script: string): Cmd {
  return lines(or(cmd('cd', dir), cmd(raw('exit 1'))), cmd(raw(script)));
}

/** The last `n` lines of `text` (a trailing newline does not count as an empty line). */
export function lastLines(text: string, n: number): string {
  const ls = text.replace(/\r\n/g, '\n').replace(/\n+$/, '').split('\n');
  return ls.slice(Math.max(0, ls.length - n)).join('\n');
}

export interface ScriptOutcome extends AttemptOutcome {
  /** last 20 lines of combined stdout+stderr, redacted (only on failure) */
  output?: string;
}

/** Run one attempt. Never rejects except when `signal` aborts (then with `abortError`). */
export async function scriptAttempt(transport: Transport, dir: string, script: string, timeoutMs: number, signal?: AbortSignal): Promise<ScriptOutcome> {
  if (signal?.aborted) throw abortError(signal);
  let combined = '';
  const collect = (chunk: string): void => {
    combined += chunk;
    if (combined.length > 2 * OUTPUT_KEEP_CHARS) combined = combined.slice(combined.length - OUTPUT_KEEP_CHARS);
  };
  const ctl = new AbortController();
  const onAbort = (): void => ctl.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  try {
    const exec = transport.exec(scriptCommand(dir, script), { timeoutMs, signal: ctl.signal, onStdout: collect, onStderr: collect });
    exec.catch(() => {}); // may settle after we stopped waiting
    // Backstop: a transport that cannot kill the whole process tree (a grandchild keeps the pipes
    // open) must not hold the deploy; nor may it delay an abort.
    const stop = new Promise<'timeout' | 'abort'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs + TIMEOUT_GRACE_MS);
      ctl.signal.addEventListener('abort', () => resolve('abort'), { once: true });
    });
    let result: Awaited<typeof exec> | 'timeout' | 'abort';
    try {
      result = await Promise.race([exec, stop]);
    } catch (err) {
      if (signal?.aborted) throw abortError(signal);
      return { ok: false, detail: redact(oneLine(err instanceof Error ? err.message : String(err))) };
    }
    if (result === 'abort' || signal?.aborted) throw abortError(signal);
    if (result === 'timeout') {
      ctl.abort(new Error('timed out'));
      return { ok: false, detail: `timed out after ${formatSeconds(timeoutMs)}`, output: tail(combined) };
    }
    if (!combined && (result.stdout || result.stderr)) collect(result.stdout + (result.stdout && result.stderr && !result.stdout.endsWith('\n') ? '\n' : '') + result.stderr);
    if (result.timedOut) return { ok: false, detail: `timed out after ${formatSeconds(timeoutMs)}`, output: tail(combined) };
    if (result.code === 0) return { ok: true, detail: 'exit 0' };
    return { ok: false, detail: result.code === null ? 'killed' : `exit ${result.code}`, output: tail(combined) };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

function tail(text: string): string | undefined {
  const t = lastLines(redact(text), OUTPUT_TAIL_LINES);
  return t === '' ? undefined : t;
}
