/**
 * History on the server: `<path>/.ee-deploy/history.jsonl`, one JSON object per line, append-only.
 * revisions.log: Capistrano's wording, one line per deploy/rollback.
 */
import { redactDeep } from '../config/secrets.js';
import { signedHistoryLine } from '../audit/chain.js';
import type { Signer } from '../transport/ssh/signer.js';

export type HistoryAction = 'deploy' | 'rollback';
/** `canary`: a `deploy --canary-only` that left the canary hosts on the release (see `deploy --promote`) */
export type HistoryStatus = 'success' | 'canary' | 'failed' | 'rolled_back' | 'needs_human' | 'interrupted';

export interface HistoryRecord {
  id: string; // release id deployed / rolled back to
  action: HistoryAction;
  status: HistoryStatus;
  from?: string; // release current pointed at before
  user: string;
  machine: string;
  env: string;
  commit?: string;
  branch?: string;
  started: string; // ISO
  duration_ms: number;
  message?: string;
  error?: string;
  warnings?: string[];
  hosts?: string[];
  /** strategy canary: the hosts switched first */
  canary?: string[];
  /** a `deploy --promote` of the canary release `id` */
  promote?: boolean;
  /** the fields below came later: records written before them lack them and are still read */
  project?: string;
  /** the same on every host of one run */
  run?: string;
  /** ISO: when `current` switched to `id` on this host; absent when it never did */
  live_at?: string;
  /** ISO commit time of `commit` */
  commit_time?: string;
  /** commits new since the release this one replaced (at most 1000) */
  changes?: { sha: string; time: string }[];
  /** per-step wall time in ms */
  steps?: Partial<Record<StepName, number>>;
  bytes_sent?: number;
  files_changed?: number;
  prev?: string;
  sig?: string;
}

export const STEP_NAMES = ['build', 'upload', 'prepare', 'switch', 'checks'] as const;
export type StepName = (typeof STEP_NAMES)[number];

/**
 * The line to append for `r`: with a signer (the key the connection authenticated with), hash-chained
 * after `prevLine` (the file's last line) and SSH-signed (the audit chain); else plain JSON.
 */
export async function writtenHistoryLine(r: HistoryRecord, prevLine: string | undefined, signer?: Signer): Promise<string> {
  if (!signer) return historyLine(r);
  return signedHistoryLine(redactDeep(r) as unknown as Record<string, unknown>, prevLine ?? '', signer);
}

/** One line of JSON, secrets redacted. */
export function historyLine(r: HistoryRecord): string {
  return JSON.stringify(redactDeep(r));
}

export function parseHistory(text: string): HistoryRecord[] {
  const out: HistoryRecord[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t) continue;
    try {
      const v = JSON.parse(t) as HistoryRecord;
      if (v && typeof v === 'object' && typeof v.id === 'string') out.push(v);
    } catch {
      // a torn line from a killed writer is skipped, not fatal
    }
  }
  return out;
}

/** Capistrano's line, with the full commit as Capistrano writes it */
export function deployedLine(o: { branch?: string; sha?: string; release: string; user: string }): string {
  return `Branch ${o.branch ?? 'HEAD'} (at ${o.sha ?? 'unknown'}) deployed as release ${o.release} by ${o.user}`;
}

export function rolledBackLine(o: { user: string; release: string }): string {
  return `${o.user} rolled back to release ${o.release}`;
}
