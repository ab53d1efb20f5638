/**
 * Telegram Bot API: POST {api_url}/bot{token}/sendMessage with plain text (no parse_mode, so
 * nothing needs escaping). The bot token is a secret: it never appears in a result.
 */
import { redact } from '../../config/secrets.js';
import { eventTitle, LEVEL_EMOJI, truncate, type DeployEvent } from '../event.js';
import { sendJson, type AttemptContext, type AttemptOutcome } from '../attempt.js';

export interface TelegramConfig {
  bot_token: string;
  chat_id: string;
  api_url: string;
}

export function telegramUrl(cfg: TelegramConfig): string {
  return `${cfg.api_url.replace(/\/+$/, '')}/bot${cfg.bot_token}/sendMessage`;
}

export function telegramPayload(cfg: TelegramConfig, event: DeployEvent, message: string): Record<string, unknown> {
  const warnings = event.warnings?.length ? `\n\nWarnings:\n${event.warnings.map((w) => `• ${w}`).join('\n')}` : '';
  const text = `${LEVEL_EMOJI[event.level]} ${eventTitle(event)}\n${message}${warnings}`;
  // chat_id is an address, not message text: it is sent as configured
  return { chat_id: cfg.chat_id, text: truncate(redact(text), 4096), link_preview_options: { is_disabled: true } };
}

export function sendTelegram(cfg: TelegramConfig, event: DeployEvent, message: string, ctx: AttemptContext): Promise<AttemptOutcome> {
  return sendJson(telegramUrl(cfg), JSON.stringify(telegramPayload(cfg, event, message)), ctx);
}
