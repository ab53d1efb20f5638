/** Running builder output on a host and turning failures into typed errors. */
import { redact } from '../config/secrets.js';
import { InterruptedError, RemoteCommandError } from '../errors.js';
import { failureReason, reportedFreeKb, userOutput } from '../remote/protocol.js';
import type { Cmd } from '../remote/shell.js';
import type { ExecOptions, ExecResult, Transport } from '../transport/types.js';

export function tail(text: string, n = 20): string {
  const lines = text.replace(/\s+$/, '').split('\n');
  return lines.slice(-n).join('\n');
}

/**
 * A full disk, said plainly: `out of disk space (N free ...)`, using the free space a script
 * reported after cleaning up; undefined when the output shows no ENOSPC.
 */
export function diskFullReason(r: ExecResult): string | undefined {
  const all = `${r.stdout}\n${r.stderr}`;
  if (!/No space left on device|ENOSPC/i.test(all)) return undefined;
  const kb = reportedFreeKb(r);
  const free = kb === undefined ? 'unknown' : kb < 1024 ? `${kb} KiB` : `${(kb / 1024).toFixed(1)} MiB`;
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
