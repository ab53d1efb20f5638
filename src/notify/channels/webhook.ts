/**
 * Generic webhook: a JSON body `{ text, ...event }` (the full event, redacted). `template`
 * replaces `text`. With `secret`, the header `signature_header` (default X-Ee-Deploy-Signature)
 * carries `sha256=<hex HMAC-SHA256 of the exact body bytes>`, as GitHub does.
 */
import { createHmac } from 'node:crypto';
import { redactDeep } from '../../config/secrets.js';
import type { DeployEvent } from '../event.js';
import { sendJson, type AttemptContext, type AttemptOutcome } from '../attempt.js';

export interface WebhookConfig {
  url: string;
  name?: string;
  method: 'POST' | 'PUT';
  headers?: Record<string, string>;
  template?: string;
  secret?: string;
  signature_header: string;
}

export function webhookChannelName(cfg: Pick<WebhookConfig, 'url' | 'name'>): string {
  if (cfg.name) return `webhook:${cfg.name}`;
  try {
    return `webhook:${new URL(cfg.url).host}`;
  } catch {
    return 'webhook';
  }
}

export function webhookBody(event: DeployEvent, message: string): string {
  return JSON.stringify(redactDeep({ text: message, ...event }));
}

export function signBody(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export function sendWebhook(cfg: WebhookConfig, event: DeployEvent, message: string, ctx: AttemptContext): Promise<AttemptOutcome> {
  const body = webhookBody(event, message);
  const headers: Record<string, string> = { ...cfg.headers };
  if (cfg.secret) headers[cfg.signature_header] = signBody(cfg.secret, Buffer.from(body, 'utf8'));
  return sendJson(cfg.url, body, ctx, { method: cfg.method, headers });
}
