/**
 * Slack incoming webhook: a Block Kit message inside an attachment, so the level shows as the
 * attachment's colour bar. `text` is the notification fallback.
 */
import { redactDeep } from '../../config/secrets.js';
import { eventDetails, eventTitle, LEVEL_COLORS, truncate, type DeployEvent } from '../event.js';
import { sendJson, type AttemptContext, type AttemptOutcome } from '../attempt.js';

export interface SlackConfig {
  webhook_url: string;
}

/** Slack mrkdwn needs only &, < and > escaped. */
export function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** `message` is the rendered (and redacted) template. */
export function slackPayload(event: DeployEvent, message: string): Record<string, unknown> {
  const title = eventTitle(event);
  const context = eventDetails(event)
    .filter((d) => !['Project', 'Environment', 'Error', 'Warnings'].includes(d.label))
    .map((d) => `${d.label.toLowerCase()}: ${d.value}`)
    .join(' · ');
  const blocks: Record<string, unknown>[] = [
    { type: 'section', text: { type: 'mrkdwn', text: truncate(`*${slackEscape(title)}*\n${slackEscape(message)}`, 3000) } },
  ];
  if (event.warnings?.length) {
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: truncate(`*Warnings*\n${event.warnings.map((w) => `• ${slackEscape(w)}`).join('\n')}`, 3000) } });
  }
  if (context) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: truncate(slackEscape(context), 3000) }] });
  return redactDeep({
    text: truncate(slackEscape(`${title}: ${message}`), 3000),
    attachments: [{ color: LEVEL_COLORS[event.level], blocks }],
  });
}

export function sendSlack(cfg: SlackConfig, event: DeployEvent, message: string, ctx: AttemptContext): Promise<AttemptOutcome> {
  return sendJson(cfg.webhook_url, JSON.stringify(slackPayload(event, message)), ctx);
}
