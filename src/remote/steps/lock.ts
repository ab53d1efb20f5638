/**
 * The deploy lock, all of it: an atomic `mkdir <path>/.ee-deploy/lock` holding `info`, one JSON
 * line (the record below). Check-then-write locks are racy; mkdir is not. This module owns the
 * record, the sh pieces the step scripts embed (take, take over, test, release), the run's guard,
 * the parser of their answers, the lock scripts of `ee-deploy lock` / `unlock`, and the
 * client-side rules: the message naming the holder, and how long a lock seen without its info is
 * looked at again.
 *
 * Who holds a lock is judged on the server, never by machine name or client pid (containers
 * share host names and pid numbers): a run's lock holds `guard` (pid and start time of the
 * run's guard process on the server: the `open` exec, which lives as long as the run's client
 * is connected) and a `pg.<pgid>` file per process group the run started there (its step
 * scripts and hooks). The guard reads its stdin, which is the connection: at EOF (the client
 * is gone) it ends every registered group. A lock is taken over only when its guard has exited
 * and none of its groups is alive; a lock without a guard (taken by hand, or by an older
 * version) is never taken over.
 */
import { randomBytes } from 'node:crypto';
import type { LockHolder } from '../../errors.js';
import { MARK, say, tags } from '../protocol.js';
import { script, type Cmd } from '../shell.js';
import { baseVars, MAKE_META } from './common.js';

// ---------------------------------------------------------------------------------------------
// the record

export interface LockInfo extends LockHolder {
  /** random per-run token: we only ever remove a lock whose token we know */
  token: string;
  /** held by hand (`ee-deploy lock`): never considered stale by pid */
  manual?: boolean;
  env?: string;
}

/** A fresh record for this process, with a new random token. */
export function newLockInfo(o: { user: string; machine: string; command: string; env: string; message?: string; manual?: boolean }): LockInfo {
  return {
    user: o.user,
    machine: o.machine,
    pid: process.pid,
    time: new Date().toISOString(),
    message: o.message,
    command: o.command,
    token: randomBytes(12).toString('hex'),
    ...(o.manual ? { manual: true } : {}),
    env: o.env,
  };
}

export function serializeLock(info: LockInfo): string {
  return JSON.stringify(info);
}

export function parseLock(text: string | undefined): LockInfo | undefined {
  if (!text) return undefined;
  try {
    const v = JSON.parse(text.trim()) as Partial<LockInfo>;
    if (typeof v !== 'object' || v === null || typeof v.token !== 'string') return undefined;
    return {
      user: String(v.user ?? 'unknown'),
      machine: String(v.machine ?? 'unknown'),
      pid: Number(v.pid ?? 0),
      time: String(v.time ?? ''),
      message: v.message ? String(v.message) : undefined,
      command: v.command ? String(v.command) : undefined,
      token: v.token,
      manual: v.manual === true,
      env: v.env ? String(v.env) : undefined,
    };
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// sh pieces (the scripts' variables: $LOCK, $INFO = the serialized record, $TOKEN, $BREAK)

/** prints `lock held <info line>` */
export const SAY_HELD = say('lock held $(head -n 1 "$LOCK/info" 2>/dev/null)');

/** read-only: `lock held <info>` or `lock free` */
export const LOCK_STATUS = `if [ -d "$LOCK" ]; then ${SAY_HELD}; else ${say('lock free')}; fi`;

/** the atomic part of taking the lock (true when this script took it); the owner's alone, as .ee-deploy/ */
export const TAKE = `mkdir -m 700 "$LOCK" 2>/dev/null`;

/** writes the record into a lock just taken (0600: its message may say more than the holder's name) */
export const WRITE_INFO = `(umask 077 && printf '%s\\n' "$INFO" > "$LOCK/info")`;

/** `ours`: does the lock still carry this run's $TOKEN? (true when no token was given) */
export const OURS = `ours() { [ -z "$TOKEN" ] && return 0; l=; { IFS= read -r l < "$LOCK/info"; } 2>/dev/null; case $l in *"\\"token\\":\\"$TOKEN\\""*) return 0 ;; esac; return 1; }`;

/** removes the lock only while it carries $TOKEN: read + case rather than grep, no fork (the token is hex) */
export const RELEASE = `l=; { IFS= read -r l < "$LOCK/info"; } 2>/dev/null; case $l in *"\\"token\\":\\"$TOKEN\\""*) rm -rf "$LOCK"; ${say('unlocked')} ;; esac`;

// ---------------------------------------------------------------------------------------------
// the run on the server: guard, process groups, liveness

/**
 * `ee_st PID` sets EE_ST to the process's start time (/proc/PID/stat field 22) and EE_STATE to its
 * state, '' without /proc; `ee_alive PID START`: is that same process still running (a reused pid
 * has another start time; a zombie has ended)? `ee_group_alive PGID`: does a live process of that
 * group remain? Without /proc only `kill -0` is left (a reused pid may then count as alive).
 */
export const PROC_LIVENESS = [
  `ee_st() { EE_ST=; EE_STATE=; l=; { read -r l < "/proc/$1/stat"; } 2>/dev/null || return 0; l=\${l##*) }; set -- $l; EE_STATE=$1; shift 19; EE_ST=$1; }`,
  `ee_alive() { if [ -d /proc/self ]; then [ -r "/proc/$1/stat" ] || return 1; ee_st "$1"; case $EE_STATE in Z|X|x) return 1 ;; esac; [ -z "$2" ] || [ "$EE_ST" = "$2" ]; else kill -0 "$1" 2>/dev/null; fi; }`,
  `ee_group_alive() { g=$1; kill -0 "-$g" 2>/dev/null || return 1; [ -d /proc/self ] || return 0; for s in /proc/[0-9]*/stat; do l=; { read -r l < "$s"; } 2>/dev/null || continue; l=\${l##*) }; set -- $l; [ "$3" = "$g" ] || continue; case $1 in Z|X|x) ;; *) return 0 ;; esac; done; return 1; }`,
].join('\n');

/**
 * A step script of a run that holds the lock (needs OURS): registers its process group (`$$`:
 * sshd, and the local transport, start every command as a session leader) so the run's guard
 * can end it; `EE_RUN` tells the hook runner to register the hooks' groups too.
 */
export const JOIN_RUN = `EE_RUN=; if [ -n "$TOKEN" ] && ours; then EE_RUN=1; : > "$LOCK/pg.$$" 2>/dev/null; trap 'rm -f "$LOCK/pg.$$" 2>/dev/null' EXIT; fi`;

/**
 * `ee_end_run [SELF]`: ends every process group registered with the lock: TERM twice (a hook's
 * group may appear between the two), then KILL, half a second apart, until none is alive. SELF: the
 * caller's own group, of which only that pid is signalled.
 */
export const END_RUN = [
  `ee_end_run() {`,
  `  self=$1; n=0; while [ "$n" -lt 4 ]; do`,
  `    any=; if [ "$n" -lt 2 ]; then sig=TERM; else sig=KILL; fi`,
  `    for f in "$LOCK"/pg.*; do`,
  `      [ -e "$f" ] || continue; g=\${f##*.}`,
  `      if [ "$g" = "$self" ]; then ee_alive "$g" && { any=1; kill -$sig "$g" 2>/dev/null; }; continue; fi`,
  `      if ee_group_alive "$g"; then any=1; kill -$sig "-$g" 2>/dev/null; else rm -f "$f"; fi`,
  `    done`,
  // (fractions of a second: GNU and BusyBox sleep; POSIX sleep takes whole seconds)
  `    [ -n "$any" ] || return 0; n=$((n + 1)); sleep 0.5 2>/dev/null || sleep 1`,
  `  done`,
  `}`,
].join('\n');

/** records the calling script ($$) as the run's guard, in a lock it holds */
export const WRITE_GUARD = `ee_st $$; printf '%s %s\\n' "$$" "$EE_ST" > "$LOCK/guard"`;

/**
 * The guard's wait, last in `open`: until the client closes stdin (the run ended, or the client
 * died); if the lock still carries this run's token, its server-side work is ended.
 */
export const GUARD_WAIT = [`while IFS= read -r _; do :; done`, `ours && ee_end_run`, `exit 0`].join('\n');

/** `holder_gone`: the lock has a guard, which has exited, and no group registered with it is alive */
export const HOLDER_GONE = `holder_gone() { gp=; gs=; { read -r gp gs < "$LOCK/guard"; } 2>/dev/null; [ -n "$gp" ] || return 1; ee_alive "$gp" "$gs" && return 1; for f in "$LOCK"/pg.*; do [ -e "$f" ] || continue; ee_group_alive "\${f##*.}" && return 1; done; return 0; }`;

/**
 * Removes a lock whose holder left nothing running, printing `lock broken <its info>`. Takers-over
 * go one at a time (`$META/.ee-lock-break`, freed when its owner is gone), so one of them never
 * removes the lock another has just taken.
 */
export const TAKE_OVER = [
  PROC_LIVENESS,
  HOLDER_GONE,
  `B="$META/.ee-lock-break"`,
  `for _ in 1 2; do`,
  `  [ -d "$LOCK" ] && holder_gone || break`,
  `  if mkdir "$B" 2>/dev/null; then`,
  `    echo "$$" > "$B/pid"`,
  `    if [ -d "$LOCK" ] && holder_gone; then ${say('lock broken $(head -n 1 "$LOCK/info" 2>/dev/null)')}; rm -rf "$LOCK"; fi`,
  `    rm -rf "$B"; break`,
  `  fi`,
  // another taker-over is at it, or one was killed there: then free its place and try again
  `  bp=; { read -r bp < "$B/pid"; } 2>/dev/null; if [ -n "$bp" ] && ! ee_alive "$bp"; then rm -rf "$B"; else break; fi`,
  `done`,
].join('\n');

/**
 * Take the lock: on success write the record, print `lock acquired` and run `onAcquired`; when
 * someone else holds it print `lock held <info>` and run `onHeld`.
 */
export function acquireLines(onAcquired: string[] = [], onHeld: string[] = [], guard = false): string[] {
  return [
    `if ${TAKE}; then`,
    `  ${WRITE_INFO} || { rm -rf "$LOCK"; echo "${MARK} error cannot write lock info"; exit 1; }`,
    // before any output: a client already gone must not leave a lock without its guard
    guard ? `  ${WRITE_GUARD}` : '',
    `  ${say('lock acquired')}`,
    ...onAcquired.map((l) => `  ${l}`),
    `else`,
    `  ${SAY_HELD}`,
    ...onHeld.map((l) => `  ${l}`),
    `fi`,
  ];
}

// ---------------------------------------------------------------------------------------------
// scripts of the lock commands

/** Release the lock only if it still carries `token` (ours). */
export function unlockScript(root: string, token: string): Cmd {
  return script({ ...baseVars(root), TOKEN: token }, RELEASE);
}

/** `ee-deploy unlock`: remove whatever lock is there, printing what it held. */
export function forceUnlockScript(root: string): Cmd {
  return script(baseVars(root), `if [ -d "$LOCK" ]; then ${SAY_HELD}; rm -rf "$LOCK" && ${say('unlocked')}; else ${say('lock free')}; fi`);
}

/** `ee-deploy lock`: take the lock by hand. */
export function manualLockScript(root: string, info: string): Cmd {
  return script({ ...baseVars(root), INFO: info }, `${MAKE_META} || exit 1`, `if ${TAKE}; then ${WRITE_INFO}; ${say('lock acquired')}; else ${SAY_HELD}; fi`);
}

// ---------------------------------------------------------------------------------------------
// the answers

export interface LockAnswer {
  /** `none`: the script said nothing about the lock */
  status: 'acquired' | 'held' | 'free' | 'none';
  /** the holder's info line, as read */
  info?: string;
  /** a lock whose holder left nothing running on the server was removed first: its info line */
  broken?: string;
  /** this script removed the lock */
  unlocked?: boolean;
}

export function parseLockAnswer(stdout: string): LockAnswer {
  const a: LockAnswer = { status: 'none' };
  for (const t of tags(stdout)) {
    if (t.kind === 'unlocked') a.unlocked = true;
    if (t.kind !== 'lock') continue;
    if (t.words[0] === 'acquired') a.status = 'acquired';
    else if (t.words[0] === 'broken') a.broken = t.words.slice(1).join(' ') || '{}';
    else if (t.words[0] === 'free') a.status = 'free';
    else if (t.words[0] === 'held') {
      a.status = 'held';
      a.info = t.words.slice(1).join(' ');
    }
  }
  return a;
}

// ---------------------------------------------------------------------------------------------
// client-side rules

/**
 * Whether a lock looks stale to a person: older than `maxAgeMs`. Only a hint in the message: the
 * server takes a lock over by itself once nothing of its holder runs there (TAKE_OVER); a lock
 * taken by hand is never stale.
 */
export function lockStaleness(info: LockInfo, here: { now: number; maxAgeMs: number }): { stale: false } | { stale: true; reason: string } {
  if (info.manual) return { stale: false };
  const t = Date.parse(info.time);
  if (Number.isFinite(t) && here.now - t > here.maxAgeMs) return { stale: true, reason: `it is ${ageText(here.now - t)} old` };
  return { stale: false };
}

export function ageText(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

export function describeHolder(info: LockInfo, now = Date.now()): string {
  const t = Date.parse(info.time);
  const age = Number.isFinite(t) ? `, ${ageText(now - t)} ago` : '';
  const what = info.manual ? 'locked by hand' : `${info.command ?? 'deploy'} running`;
  const msg = info.message ? `: "${info.message}"` : '';
  return `${info.user}@${info.machine} (pid ${info.pid}, ${what}${age})${msg}`;
}

/** the holder as the messages name it */
export function holderText(info: LockInfo | undefined): string {
  return info ? describeHolder(info) : 'an unknown holder';
}

/** The one-line message of a lock that stays held, with what to do about it. */
export function lockHeldMessage(host: string, info: LockInfo | undefined, here: { maxAgeMs: number }): string {
  let msg = `${host}: deploy lock held by ${info ? describeHolder(info) : 'an unknown holder (no lock info)'}`;
  if (!info) return `${msg}; if no deploy is running, run \`ee-deploy unlock\``;
  const st = lockStaleness(info, { now: Date.now(), maxAgeMs: here.maxAgeMs });
  if (st.stale) msg += `; it looks stale (${st.reason}): if no deploy is running, run \`ee-deploy unlock\``;
  else if (info.manual) msg += '; run `ee-deploy unlock` to lift it';
  else msg += '; wait for it to finish, or pass --lock-wait 2m';
  return msg;
}

/** how long a lock seen without its info is taken to be one still being written */
export const LOCK_INFO_GRACE_MS = 2_000;

/**
 * A lock without its info is being taken right now (mkdir, then the info is written): look again
 * shortly rather than name "an unknown holder". Its holder may also have been killed between the
 * two; once the grace has passed, that is what gets reported.
 */
export class InfoGrace {
  private since: number | undefined;

  /** true while a lock seen without info should be read again */
  lookAgain(now = Date.now()): boolean {
    this.since ??= now;
    return now - this.since < LOCK_INFO_GRACE_MS;
  }

  /** the lock was seen with its info: a later one without starts a new grace */
  reset(): void {
    this.since = undefined;
  }
}
