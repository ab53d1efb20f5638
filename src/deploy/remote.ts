/** Running builder output on a host and turning failures into typed errors. */
import { redact } from '../config/secrets.js';
import { InterruptedError, RemoteCommandError } from '../errors.js';
import { MARK } from '../remote/commands/scripts.js';
import type { Cmd } from '../remote/shell.js';
import type { ExecOptions, ExecResult, Transport } from '../transport/types.js';

export function tail(text: string, n = 20): string {
  const lines = text.replace(/\s+$/, '').split('\n');
  return lines.slice(-n).join('\n');
}

/** the reason a script gave with `@@ee failed <reason>`, if any */
export function failureReason(r: ExecResult): string | undefined {
  const all = `${r.stdout}\n${r.stderr}`;
  const m = all.split('\n').reverse().find((l) => l.startsWith(`${MARK} failed `));
  return m?.slice(MARK.length + 8);
}

/** the user's output lines, without our protocol markers */
export function userOutput(r: ExecResult): string {
  // stdout's final newline must not become an empty line between the two
  return `${r.stdout.replace(/\n$/, '')}\n${r.stderr}`
    .split('\n')
    .filter((l) => !l.startsWith(MARK))
    .join('\n')
    .trim();
}

/**
 * A full disk, said plainly: `out of disk space (N free ...)`, using the free space a script
 * reported with `@@ee df <KiB>` after cleaning up; undefined when the output shows no ENOSPC.
 */
export function diskFullReason(r: ExecResult): string | undefined {
  const all = `${r.stdout}\n${r.stderr}`;
  if (!/No space left on device|ENOSPC/i.test(all)) return undefined;
  const kb = /^@@ee df (\d+)$/m.exec(all)?.[1];
  const free = kb === undefined ? 'unknown' : Number(kb) < 1024 ? `${kb} KiB` : `${(Number(kb) / 1024).toFixed(1)} MiB`;
  return `out of disk space (No space left on device; ${free} free after removing the partial upload)`;
}

export async function execChecked(t: Transport, command: Cmd, step: string, opts: ExecOptions = {}): Promise<ExecResult> {
  const r = await t.exec(command, opts);
  if (r.code === 0) return r;
  // killed because the run was interrupted (Ctrl-C / SIGTERM): say that, not "exit signal"
  if (opts.signal?.aborted) throw new InterruptedError(`interrupted during ${step} on ${t.host}`);
  const full = diskFullReason(r);
  const reason = full ?? failureReason(r) ?? (r.timedOut ? 'timed out' : `exit ${r.code ?? 'signal'}`);
  const detail = full ? '' : tail(userOutput(r), 1);
  const msg = `${t.host}: ${step} failed: ${reason}${detail && !reason.includes(detail) ? ` (${detail})` : ''}`;
  throw new RemoteCommandError(redact(msg), r.code, r.stdout, r.stderr, { host: t.host, step });
}
