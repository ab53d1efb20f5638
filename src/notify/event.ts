/**
 * The notification event (what happened) and the per-channel result (what the channel said).
 * Everything here is plain data: the deploy/rollback code builds a DeployEvent, the notify module
 * turns it into one message per channel.
 */
import type { NotifyLevel } from '../config/notify-vocabulary.js';
import { formatDuration } from '../config/duration.js';

export type { NotifyLevel };

export interface DeployEvent {
  level: NotifyLevel;
  action: 'deploy' | 'rollback' | 'test';
  project: string;
  env: string;
  release?: string;
  previousRelease?: string;
  commit?: string;
  hosts: string[];
  /** the failing host, if any */
  host?: string;
  user: string;
  durationMs?: number;
  error?: string;
  /** the first http health check url, if any */
  url?: string;
  status: string;
  /** ISO 8601 */
  timestamp: string;
  warnings?: string[];
  /** the same for every notification of one run (Google Chat thread, Jira deployment) */
  run?: string;
  /** ISO: when the run started */
  runStarted?: string;
  /** commits new in this release (the head commit on a first deploy); messages feed the Jira issue keys */
  changes?: { sha: string; message?: string }[];
  /** identical failures held back by `notifications.suppress` since the last message (set when sending) */
  heldBack?: { count: number; error: string; since: string };
}

/** The first line of an error, as `notifications.suppress` compares them. */
export function firstLine(text: string | undefined): string {
  return (text ?? '').split(/\r?\n/)[0].trim();
}

/** A deploy that did not go live (or was rolled back), or a rollback that failed. */
export function isFailure(event: Pick<DeployEvent, 'level' | 'action' | 'status'>): boolean {
  if (event.action === 'test') return false;
  return event.level === 'failure' || (event.action === 'deploy' && (event.status === 'rolled_back' || event.status === 'needs_human'));
}

/** The run key of an event: the run id, else project/env/release. */
export function runKey(event: Pick<DeployEvent, 'run' | 'project' | 'env' | 'release' | 'timestamp'>): string {
  return event.run ?? `${event.project}/${event.env}/${event.release ?? event.timestamp}`;
}

export interface ChannelResult {
  /** 'slack' | 'discord' | 'email' | 'telegram' | 'webhook:<name or host>' */
  channel: string;
  ok: boolean;
  /** routing, suppression or escalation left this channel out (or it had nothing to send); nothing was sent */
  skipped?: boolean;
  /** why it was skipped */
  reason?: string;
  attempts: number;
  durationMs: number;
  /** one line, redacted; never contains webhook URLs or bot tokens */
  error?: string;
}

/** Slack attachment / e-mail accent colours (Slack's own palette). */
export const LEVEL_COLORS: Record<NotifyLevel, string> = {
  started: '#439FE0',
  success: '#2EB67D',
  failure: '#E01E5A',
  rollback: '#F2994A',
  warning: '#ECB22E',
};

/** Discord wants the colour as an integer. */
export function colorInt(level: NotifyLevel): number {
  return parseInt(LEVEL_COLORS[level].slice(1), 16);
}

export const LEVEL_EMOJI: Record<NotifyLevel, string> = {
  started: '🚀',
  success: '✅',
  failure: '❌',
  rollback: '↩️',
  warning: '⚠️',
};

/** "deploy succeeded", "rollback failed", "test notification", ... */
export function eventHeadline(event: Pick<DeployEvent, 'level' | 'action'>): string {
  if (event.action === 'test') return 'test notification';
  const what = event.action === 'rollback' ? 'rollback' : 'deploy';
  switch (event.level) {
    case 'started':
      return `${what} started`;
    case 'success':
      return event.action === 'rollback' ? 'rolled back' : 'deployed';
    case 'failure':
      return `${what} FAILED`;
    case 'rollback':
      return 'rolled back';
    case 'warning':
      return `${what} warning`;
  }
}

/** "shop production: deployed" */
export function eventTitle(event: DeployEvent): string {
  return `${event.project} ${event.env}: ${eventHeadline(event)}`;
}

/** A full git sha is shown short (as Capistrano's revisions.log does); anything else as is. */
export function shortCommit(commit: string | undefined): string | undefined {
  if (!commit) return undefined;
  return /^[0-9a-f]{40}$/i.test(commit) ? commit.slice(0, 7) : commit;
}

export interface EventDetail {
  label: string;
  value: string;
  /** short enough to sit beside others (Discord inline fields) */
  inline: boolean;
}

/** The known facts of an event, for the detail sections of Slack, Discord and e-mail. */
export function eventDetails(event: DeployEvent): EventDetail[] {
  const d: EventDetail[] = [];
  const add = (label: string, value: string | undefined, inline = true) => {
    if (value !== undefined && value !== '') d.push({ label, value, inline });
  };
  add('Project', event.project);
  add('Environment', event.env);
  add('Release', event.release);
  add('Previous release', event.previousRelease);
  add('Commit', shortCommit(event.commit));
  add('By', event.user);
  add('Duration', event.durationMs !== undefined ? formatDuration(event.durationMs) : undefined);
  add('Hosts', event.hosts.length ? event.hosts.join(', ') : undefined, event.hosts.length <= 3);
  add('Failing host', event.host);
  add('URL', event.url, false);
  add('Error', event.error, false);
  if (event.warnings?.length) add('Warnings', event.warnings.map((w) => `• ${w}`).join('\n'), false);
  return d;
}

export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
