/**
 * The deploy lock, all of it: an atomic `mkdir <path>/.ee-deploy/lock` holding `info`, one JSON
 * line (the record below). Check-then-write locks are racy; mkdir is not. This module owns the
 * record, the sh pieces the step scripts embed (take, break, test, release), the parser of their
 * answers, the lock scripts of `ee-deploy lock` / `unlock`, and the client-side rules: staleness,
 * the message naming the holder, and how long a lock seen without its info is looked at again.
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

/** removes an existing lock first, but only while it still carries $BREAK (a provably stale one) */
export const BREAK_STALE = `if [ -n "$BREAK" ] && grep -q "\\"token\\":\\"$BREAK\\"" "$LOCK/info" 2>/dev/null; then rm -rf "$LOCK"; ${say('lock broken')}; fi`;

/**
 * Take the lock: on success write the record, print `lock acquired` and run `onAcquired`; when
 * someone else holds it print `lock held <info>` and run `onHeld`.
 */
export function acquireLines(onAcquired: string[] = [], onHeld: string[] = []): string[] {
  return [
    `if ${TAKE}; then`,
    `  ${WRITE_INFO} || { rm -rf "$LOCK"; echo "${MARK} error cannot write lock info"; exit 1; }`,
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
  /** a stale lock was removed first */
  broken?: boolean;
  /** this script removed the lock */
  unlocked?: boolean;
}

export function parseLockAnswer(stdout: string): LockAnswer {
  const a: LockAnswer = { status: 'none' };
  for (const t of tags(stdout)) {
    if (t.kind === 'unlocked') a.unlocked = true;
    if (t.kind !== 'lock') continue;
    if (t.words[0] === 'acquired') a.status = 'acquired';
    else if (t.words[0] === 'broken') a.broken = true;
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

export type Staleness =
  | { stale: false }
  | { stale: true; provable: true; reason: string }
  | { stale: true; provable: false; reason: string };

/**
 * A lock is provably stale when its holder ran on this machine and that pid is gone; it is
 * probably stale when older than `maxAgeMs`. Hand-held locks are never stale.
 */
export function lockStaleness(
  info: LockInfo,
  here: { machine: string; now: number; maxAgeMs: number; pidAlive: (pid: number) => boolean },
): Staleness {
  if (info.manual) return { stale: false };
  if (info.machine === here.machine && info.pid > 0 && !here.pidAlive(info.pid)) {
    return { stale: true, provable: true, reason: `its process ${info.pid} on ${info.machine} is gone` };
  }
  const t = Date.parse(info.time);
  if (Number.isFinite(t) && here.now - t > here.maxAgeMs) {
    return { stale: true, provable: false, reason: `it is ${ageText(here.now - t)} old` };
  }
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
export function lockHeldMessage(host: string, info: LockInfo | undefined, here: { machine: string; maxAgeMs: number }): string {
  let msg = `${host}: deploy lock held by ${info ? describeHolder(info) : 'an unknown holder (no lock info)'}`;
  if (!info) return `${msg}; if no deploy is running, run \`ee-deploy unlock\``;
  const st = lockStaleness(info, { machine: here.machine, now: Date.now(), maxAgeMs: here.maxAgeMs, pidAlive });
  if (st.stale) msg += `; it looks stale (${st.reason}): if no deploy is running, run \`ee-deploy unlock\``;
  else if (info.manual) msg += '; run `ee-deploy unlock` to lift it';
  else msg += '; wait for it to finish, or pass --lock-wait 2m';
  return msg;
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
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
