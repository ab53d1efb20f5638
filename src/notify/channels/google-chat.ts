/**
 * Google Chat incoming webhook: a text message in the thread of this run. The thread is named by
 * `thread.threadKey` (the same for every message of one run) and the URL asks for
 * `messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD`, so the first message of a run starts
 * the thread and the next ones reply in it. The webhook URL's `key` and `token` are secrets.
 */
import { redactDeep } from '../../config/secrets.js';
import { eventDetails, eventTitle, truncate, type DeployEvent } from '../event.js';
import { sendJson, type AttemptContext, type AttemptOutcome } from '../attempt.js';
import { rebaseUrl } from '../http.js';

export interface GoogleChatConfig {
  webhook_url: string;
  api_url?: string;
}

/** the same for every message of one run, different for every run: project, environment and the run's start */
export function googleChatThreadKey(event: DeployEvent): string {
  return `ee-deploy-${event.project}-${event.env}-${event.run ?? event.release ?? event.timestamp}`.replace(/[^A-Za-z0-9._:-]/g, '_').slice(0, 4000);
}

export function googleChatUrl(cfg: GoogleChatConfig): string {
  const u = new URL(rebaseUrl(cfg.webhook_url, cfg.api_url));
  u.searchParams.set('messageReplyOption', 'REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD');
  return u.toString();
}

export function googleChatPayload(event: DeployEvent, message: string): Record<string, unknown> {
  const details = eventDetails(event)
    .filter((d) => !['Project', 'Environment', 'Error'].includes(d.label))
    .map((d) => (d.value.includes('\n') ? `${d.label}:\n${d.value}` : `${d.label}: ${d.value}`));
  // Chat's own markup: *bold*
  const text = [`*${eventTitle(event)}*`, message, ...(details.length ? ['', ...details] : [])].join('\n');
  return redactDeep({ text: truncate(text, 4000), thread: { threadKey: googleChatThreadKey(event) } });
}

export function sendGoogleChat(cfg: GoogleChatConfig, event: DeployEvent, message: string, ctx: AttemptContext): Promise<AttemptOutcome> {
  return sendJson(googleChatUrl(cfg), JSON.stringify(googleChatPayload(event, message)), ctx);
}
