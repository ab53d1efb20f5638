/**
 * Discord webhook: one embed, coloured by level, with the details as fields. Mentions are
 * disabled so an error text cannot ping @everyone.
 */
import { redactDeep } from '../../config/secrets.js';
import { colorInt, eventDetails, eventTitle, truncate, type DeployEvent } from '../event.js';
import { sendJson, type AttemptContext, type AttemptOutcome } from '../attempt.js';

export interface DiscordConfig {
  webhook_url: string;
}

export function discordPayload(event: DeployEvent, message: string): Record<string, unknown> {
  const fields = eventDetails(event)
    .filter((d) => !['Project', 'Environment', 'Error'].includes(d.label))
    .slice(0, 25)
    .map((d) => ({ name: d.label, value: truncate(d.value, 1024), inline: d.inline }));
  return redactDeep({
    username: 'ee-deploy',
    allowed_mentions: { parse: [] },
    embeds: [
      {
        title: truncate(eventTitle(event), 256),
        description: truncate(message, 4096),
        color: colorInt(event.level),
        fields,
        timestamp: event.timestamp,
      },
    ],
  });
}

export function sendDiscord(cfg: DiscordConfig, event: DeployEvent, message: string, ctx: AttemptContext): Promise<AttemptOutcome> {
  return sendJson(cfg.webhook_url, JSON.stringify(discordPayload(event, message)), ctx);
}
