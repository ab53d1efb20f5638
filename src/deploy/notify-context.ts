/**
 * What a run's notifications need beyond the event: the environment's deploy history from the
 * servers (for `notifications.suppress` and `escalate`, so every machine decides alike) and the
 * commits new in this release with their messages (Jira links the issue keys they name).
 */
import { execFile } from 'node:child_process';
import { parseHistory, type HistoryRecord } from '../history/record.js';
import type { PastRun } from '../notify/routing.js';
import { parseHistoryLines, readHistoryScript } from '../remote/steps/inspect.js';
import type { Transport } from '../transport/types.js';
import type { NotifyContext } from './checks.js';
import { fromOf, type Run } from './run.js';

/** how far back, per host, suppression and escalation look (a window of 30m or a streak of 3 needs little) */
export const NOTIFY_HISTORY_LINES = 200;
/** as many commits as a history record's `changes` holds */
export const MAX_CHANGES = 1000;

/**
 * Reads every host's history tail once (on first use) and merges them; the decision code keeps
 * one record per run. Hosts that cannot be read are left out; all of them failing is an error.
 */
export function historyLoader(hosts: readonly { t: Transport; host: { id: string; path: string } }[]): () => Promise<PastRun[]> {
  let loaded: Promise<PastRun[]> | undefined;
  const load = async (): Promise<PastRun[]> => {
    const settled = await Promise.allSettled(
      hosts.map(async (s) => {
        const r = await s.t.exec(readHistoryScript(s.host.path, NOTIFY_HISTORY_LINES), { readOnly: true });
        if (r.code !== 0) throw new Error(`${s.host.id}: reading the history failed (exit ${r.code})`);
        return parseHistory(parseHistoryLines(r.stdout));
      }),
    );
    const ok = settled.filter((x): x is PromiseFulfilledResult<HistoryRecord[]> => x.status === 'fulfilled');
    if (!ok.length && settled.length) throw (settled[0] as PromiseRejectedResult).reason;
    return ok.flatMap((x) => x.value);
  };
  return () => (loaded ??= load());
}

/**
 * The commits new since `from` up to `to`, newest first, with their messages; a first deploy (no
 * `from`, or a `from` this clone does not have) gets `to` alone; a redeploy of `from` gets none.
 * Empty without git.
 */
export async function commitChanges(dir: string, to: string | undefined, from: string | undefined): Promise<{ sha: string; message: string }[]> {
  if (!to || !/^[0-9a-f]{40}$/i.test(to) || from === to) return [];
  const ranged = !!from && /^[0-9a-f]{40}$/i.test(from) && from !== to;
  let out = ranged ? await gitLog(dir, [`--max-count=${MAX_CHANGES}`, `${from}..${to}`]) : undefined;
  if (out === undefined) out = await gitLog(dir, ['--max-count=1', to]);
  return (out ?? '')
    .split('\x1e')
    .map((rec) => rec.replace(/^\n/, ''))
    .filter(Boolean)
    .map((rec) => {
      const [sha, ...msg] = rec.split('\x1f');
      return { sha: sha.trim(), message: msg.join('\x1f').trim() };
    })
    .filter((c) => /^[0-9a-f]{40}$/i.test(c.sha));
}

function gitLog(cwd: string, args: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('git', ['log', '--format=%H%x1f%B%x1e', ...args], { cwd, encoding: 'utf8', timeout: 10_000, maxBuffer: 16 << 20 }, (err, stdout) => resolve(err ? undefined : stdout));
  });
}

/**
 * What the final notification of a deploy run adds to its event and context: the run key (the
 * run's start, shared with its `started` notification), the commits of the release when Jira
 * needs them, and the servers' history.
 */
export async function runNotifyExtras(run: Run): Promise<{ extra: { run: string; runStarted: string; changes?: { sha: string; message: string }[] }; ctx: NotifyContext }> {
  const first = run.sessions.hosts[0];
  let changes: { sha: string; message: string }[] | undefined;
  if (run.o.config.raw.notifications?.jira && first) {
    const from = fromOf(run, first);
    const fromCommit = from ? first.state.releases.find((r) => r.id === from)?.revision : undefined;
    changes = await commitChanges(run.o.config.sourceDir, run.git.sha, fromCommit);
  }
  return { extra: { run: run.startedIso, runStarted: run.startedIso, ...(changes ? { changes } : {}) }, ctx: { history: historyLoader(run.sessions.hosts) } };
}
