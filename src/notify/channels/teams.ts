/**
 * Microsoft Teams through a Workflows webhook ("When a Teams webhook request is received"; the
 * Office 365 connectors are retired): a `message` whose one attachment is an Adaptive Card. The
 * workflow posts the card to its channel. The webhook URL carries its signature (`sig=`): a secret.
 */
import { redactDeep } from '../../config/secrets.js';
import { eventDetails, eventTitle, truncate, type DeployEvent, type NotifyLevel } from '../event.js';
import { sendJson, type AttemptContext, type AttemptOutcome } from '../attempt.js';
import { rebaseUrl } from '../http.js';

export interface TeamsConfig {
  webhook_url: string;
  api_url?: string;
}

/** Adaptive Card text colours */
const COLOR: Record<NotifyLevel, string> = { started: 'Accent', success: 'Good', failure: 'Attention', rollback: 'Warning', warning: 'Warning' };

export function teamsPayload(event: DeployEvent, message: string): Record<string, unknown> {
  const facts = eventDetails(event)
    .filter((d) => !['Error', 'Warnings'].includes(d.label))
    .map((d) => ({ title: d.label, value: truncate(d.value, 500) }));
  const body: Record<string, unknown>[] = [
    { type: 'TextBlock', text: truncate(eventTitle(event), 200), weight: 'Bolder', size: 'Medium', color: COLOR[event.level], wrap: true },
    { type: 'TextBlock', text: truncate(message, 2000), wrap: true },
  ];
  if (facts.length) body.push({ type: 'FactSet', facts });
  if (event.warnings?.length) body.push({ type: 'TextBlock', text: truncate(event.warnings.map((w) => `- ${w}`).join('\n'), 2000), wrap: true, isSubtle: true });
  const card: Record<string, unknown> = {
    $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
    type: 'AdaptiveCard',
    version: '1.4',
    body,
    msteams: { width: 'Full' },
  };
  if (event.url) card.actions = [{ type: 'Action.OpenUrl', title: 'Open', url: event.url }];
  return redactDeep({
    type: 'message',
    attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', contentUrl: null, content: card }],
  });
}

export function sendTeams(cfg: TeamsConfig, event: DeployEvent, message: string, ctx: AttemptContext): Promise<AttemptOutcome> {
  return sendJson(rebaseUrl(cfg.webhook_url, cfg.api_url), JSON.stringify(teamsPayload(event, message)), ctx);
}
