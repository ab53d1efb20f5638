/**
 * A run's hold on its hosts: one transport per host for the whole run, the deploy lock taken on
 * every host (all or none), and the state each host reported when the lock was taken.
 */
import { redact } from '../config/secrets.js';
import type { ResolvedConfig, ResolvedHost } from '../config/resolve.js';
import { LockHeldError, UsageError } from '../errors.js';
import { foreignOwnerMessage } from '../remote/steps/ownership.js';
import { PassThrough } from 'node:stream';
import { describeHolder, holderText, InfoGrace, lockHeldMessage, newLockInfo, parseLock, serializeLock, unlockScript, type LockInfo } from '../remote/steps/lock.js';
import { emptyState, foreignNote, OpenCapture, openScript, parseState, type ParsedState } from '../remote/steps/open.js';
import { openAll, openTransport } from '../transport/open.js';
import type { Transport } from '../transport/types.js';
import type { Reporter } from '../ui/reporter.js';
import { machineName } from './identity.js';
import { execChecked } from './remote.js';
import { sleep } from '../util/sleep.js';

/**
 * `open` reports the lock and the state first, then possibly the current release's manifest
 * (~60 bytes a file): all of it must be kept, not just the last MiB.
 */
const OPEN_MAX_STDOUT = 512 << 20;

export interface HostSession {
  host: ResolvedHost;
  t: Transport;
  state: ParsedState;
  locked: boolean;
  /**
   * the stdin of this run's guard on the host (the `open` exec that took the lock, still
   * running): ending it tells the guard the run is over (remote/steps/lock.ts)
   */
  guard?: PassThrough;
}

export interface Sessions {
  hosts: HostSession[];
  token: string;
  lock: LockInfo;
  close(): Promise<void>;
}

export interface OpenSessionsOptions {
  config: ResolvedConfig;
  hosts: ResolvedHost[];
  reporter: Reporter;
  user: string;
  command: 'deploy' | 'rollback';
  interactive: boolean;
  dryRun?: boolean;
  lockWaitMs?: number;
  message?: string;
  signal?: AbortSignal;
  /** deploy: `open` also reports the current release's manifest (only its digest if one of these) */
  manifests?: string[];
  /** connections already being opened (connectHosts), e.g. while the source is scanned */
  transports?: Promise<Map<string, Transport>>;
  /** go on where another project owns the path */
  force?: boolean;
}

/**
 * Opens every host's connection (no remote command runs). Started early, it overlaps the local
 * work that follows; a rejection is kept for whoever awaits it (no unhandled-rejection warning).
 */
export function connectHosts(o: Pick<OpenSessionsOptions, 'config' | 'hosts' | 'reporter' | 'interactive' | 'dryRun' | 'signal'>): Promise<Map<string, Transport>> {
  const p = openAll(o.hosts, { interactive: o.interactive, dryRun: o.dryRun, signal: o.signal, print: (h, text) => o.reporter.info(`[dry-run] ${h}: ${text}`) }, o.config.env.max_parallel);
  p.catch(() => {});
  return p;
}

/** closes what connectHosts opened, when the run stops before openSessions took it over */
export async function closeHosts(p: Promise<Map<string, Transport>> | undefined): Promise<void> {
  const m = await p?.catch(() => undefined);
  if (m) await Promise.allSettled([...m.values()].map((t) => t.close()));
}

export async function openSessions(o: OpenSessionsOptions): Promise<Sessions> {
  const lock = newLockInfo({ user: o.user, machine: machineName(), message: o.message && redact(o.message), command: o.command, env: o.config.envName });
  const token = lock.token;
  const step = o.reporter.step(`connecting to ${o.hosts.length === 1 ? o.hosts[0].id : `${o.hosts.length} hosts`}`);
  let transports: Map<string, Transport>;
  try {
    transports = await (o.transports ?? connectHosts(o));
  } catch (e) {
    step.fail(`connect failed`);
    throw e;
  }
  step.succeed(o.hosts.length === 1 ? `connected to ${o.hosts[0].id}` : `connected to ${o.hosts.length} hosts`);
  const sessions: HostSession[] = o.hosts.map((h) => ({ host: h, t: transports.get(h.id)!, state: emptyState(), locked: false }));
  // a deploy measures each link (for `compress: auto`) while the open step runs: no extra wait
  if (o.command === 'deploy') for (const s of sessions) if ((s.host.compress ?? 'auto') === 'auto') void s.t.measureLink?.();
  const close = async () => {
    for (const s of sessions) endGuard(s);
    await Promise.allSettled(sessions.map((s) => s.t.close()));
  };
  const result: Sessions = { hosts: sessions, token, lock, close };
  try {
    await acquireAll(sessions, lock, o);
  } catch (e) {
    await releaseLocks(result);
    await close();
    throw e;
  }
  return result;
}

/** what an `open` found worth a line: releases it cleaned up, foreign entries of releases/ */
function reportOpened(host: string, st: ParsedState, reporter: Reporter): void {
  if (st.cleaned?.length) reporter.info(`${host}: removed release(s) ${st.cleaned.join(', ')} left behind by an interrupted deploy`);
  const note = foreignNote(st.foreign);
  if (note) reporter.info(`${host}: ${note}`);
}

async function acquireAll(sessions: HostSession[], lock: LockInfo, o: OpenSessionsOptions): Promise<void> {
  const deadline = Date.now() + (o.lockWaitMs ?? 0);
  const lockStep = o.reporter.step('taking the deploy lock');
  let announcedWait = false;
  const grace = new InfoGrace();
  if (o.dryRun) {
    // read the real state, take no lock
    await Promise.all(
      sessions.map(async (s) => {
        const r = await execChecked(s.t, openScript(s.host.path, { readOnly: true, manifests: o.manifests, project: o.config.project, force: o.force }), 'open', { readOnly: true, maxStdout: OPEN_MAX_STDOUT });
        s.state = parseState(r.stdout);
        refuseForeign(s, s.state, o);
        reportOpened(s.host.id, s.state, o.reporter);
        const info = parseLock(s.state.lock.info);
        if (s.state.lock.status === 'held') o.reporter.warn(`${s.host.id}: the deploy lock is held by ${holderText(info)}; a real run would stop here`);
      }),
    );
    lockStep.succeed('dry run: state read, no lock taken');
    return;
  }
  for (;;) {
    // take the lock where we do not hold it yet. The first host is taken alone first: concurrent
    // runs over the same hosts all meet there, so exactly one of them goes on, instead of each
    // ending up with a part of the fleet.
    const batch = sessions[0].locked ? sessions.filter((s) => !s.locked) : [sessions[0]];
    const held: { s: HostSession; info?: LockInfo }[] = [];
    await Promise.all(
      batch.map(async (s) => {
        const st = parseState(await openGuarded(s, lock, o));
        refuseForeign(s, st, o);
        if (st.lock.broken) {
          const dead = parseLock(st.lock.broken);
          o.reporter.warn(`${s.host.id}: took over the deploy lock of ${dead ? describeHolder(dead) : 'an earlier run'}: nothing of that run still runs on the server`);
        }
        if (st.lock.status === 'acquired') {
          s.locked = true;
          s.state = st;
          reportOpened(s.host.id, st, o.reporter);
        } else {
          held.push({ s, info: parseLock(st.lock.info) });
        }
      }),
    );
    if (held.length === 0) {
      if (sessions.some((s) => !s.locked)) continue;
      lockStep.succeed(sessions.length === 1 ? 'lock taken' : `lock taken on ${sessions.length} hosts`);
      return;
    }
    // all or none: give back what this round took, so two runs waiting for each other's hosts
    // cannot deadlock (and a run that gives up holds nothing)
    await Promise.allSettled(
      sessions
        .filter((x) => x.locked)
        .map(async (x) => {
          await x.t.exec(unlockScript(x.host.path, lock.token));
          x.locked = false;
          endGuard(x);
        }),
    );
    // a lock without its info is being written right now: look again shortly (InfoGrace)
    if (held.some((h) => !h.info) && !o.signal?.aborted) {
      if (grace.lookAgain()) {
        await sleep(50 + Math.floor(Math.random() * 100), o.signal);
        continue;
      }
    } else grace.reset();
    const { s, info } = held[0];
    if (Date.now() < deadline && !o.signal?.aborted) {
      if (!announcedWait) {
        lockStep.update(`waiting for the lock on ${s.host.id}: held by ${holderText(info)}`);
        announcedWait = true;
      }
      // a little jitter, so waiting runs do not retry in lockstep
      await sleep(Math.min(500 + Math.floor(Math.random() * 500), Math.max(50, deadline - Date.now())), o.signal);
      continue;
    }
    lockStep.fail('the deploy lock is held');
    throw new LockHeldError(lockHeldMessage(s.host.id, info, { maxAgeMs: o.config.raw.lock_stale_after }), info, s.host.id);
  }
}

/**
 * `open` taking the lock, as the run's guard: its stdin stays open for the whole run (the guard
 * on the server waits for its end) and the state is read once the script printed it; when the
 * lock is held the script just ends. Returns open's output.
 */
async function openGuarded(s: HostSession, lock: LockInfo, o: OpenSessionsOptions): Promise<string> {
  const cmd = openScript(s.host.path, { lockInfo: serializeLock(lock), guard: lock.token, manifests: o.manifests, project: o.config.project, force: o.force });
  const stdin = new PassThrough();
  const capture = new OpenCapture();
  let opened!: (text: string) => void;
  const whenOpened = new Promise<string>((r) => (opened = r));
  const exec = execChecked(s.t, cmd, 'open', {
    stdin,
    maxStdout: OPEN_MAX_STDOUT,
    onStdout: (chunk) => {
      const all = capture.write(chunk);
      if (all !== undefined) opened(all);
    },
  });
  const first = await Promise.race([whenOpened.then((text) => ({ text })), exec.then((r) => ({ r }))]);
  if ('r' in first) return first.r.stdout;
  // the guard runs until the run ends: what it does then does not concern the run any more
  exec.catch(() => undefined);
  s.guard = stdin;
  return first.text;
}

/** another project owns the path (open stopped before changing anything): exit 2, naming both */
function refuseForeign(s: HostSession, st: ParsedState, o: OpenSessionsOptions): void {
  if (!st.owner || st.owner === o.config.project) return;
  if (o.force) o.reporter.warn(`${s.host.id}: ${s.host.path} belonged to project "${st.owner}"; --force: it is now "${o.config.project}"'s`);
  else throw new UsageError(foreignOwnerMessage(s.host.id, s.host.path, st.owner, o.config.project, o.command));
}

/** tells the host's guard that this run is over there (after the lock was released, or when closing) */
function endGuard(s: HostSession): void {
  s.guard?.end();
  s.guard = undefined;
}

/**
 * After a dropped connection: a fresh connection to each host whose transport died (an
 * SshTransport whose `alive` turned false), so the run can see where `current` really points (a
 * switch may have run although its answer was lost), put it back, record the failure and release
 * its lock. The session's transport is replaced; `state` stays what the run started from.
 * Returns the reconnected hosts with their `current` now, and the hosts that stay unreachable.
 */
export async function reconnectLost(sessions: Sessions, o: { interactive: boolean; reporter: Reporter; connectTimeoutMs?: number }): Promise<{ back: { s: HostSession; current?: string }[]; unreachable: HostSession[] }> {
  const lost = sessions.hosts.filter((s) => (s.t as { alive?: boolean }).alive === false);
  const back: { s: HostSession; current?: string }[] = [];
  const unreachable: HostSession[] = [];
  await Promise.all(
    lost.map(async (s) => {
      try {
        const t = await openTransport(s.host, { interactive: o.interactive, connectTimeoutMs: o.connectTimeoutMs ?? 10_000 });
        await s.t.close().catch(() => {});
        s.t = t;
        const r = await execChecked(t, openScript(s.host.path, { readOnly: true }), 'open', { readOnly: true });
        const current = parseState(r.stdout).current;
        o.reporter.warn(`${s.host.id}: reconnected after the connection was lost; current -> ${current ?? '(none)'}`);
        back.push({ s, current });
      } catch (e) {
        o.reporter.warn(`${s.host.id}: cannot reconnect after the connection was lost: ${(e as Error).message}`);
        unreachable.push(s);
      }
    }),
  );
  return { back, unreachable };
}

/** Releases our lock on every host that has it (best effort, never throws). */
export async function releaseLocks(sessions: Sessions): Promise<void> {
  await Promise.allSettled(
    sessions.hosts
      .filter((s) => s.locked)
      .map(async (s) => {
        await s.t.exec(unlockScript(s.host.path, sessions.token));
        s.locked = false;
        endGuard(s);
      }),
  );
}


