/**
 * SMS through Twilio's Messages API: one form-encoded `POST
 * /2010-04-01/Accounts/{AccountSid}/Messages.json` per recipient, HTTP Basic auth with the account
 * SID and auth token. A retry after a 5xx sends only to the numbers that did not get it yet.
 * `from` may be a Messaging Service SID (MG...) instead of a number.
 */
import { redact } from '../../config/secrets.js';
import { eventTitle, LEVEL_EMOJI, truncate, type DeployEvent } from '../event.js';
import type { HttpPart } from '../http.js';
import { serviceUrl } from '../http.js';

export interface SmsConfig {
  provider: 'twilio';
  account_sid: string;
  auth_token: string;
  from: string;
  to: string[];
  api_url: string;
}

/** Two GSM segments at most: a page, not a report */
export const SMS_MAX = 300;

export function smsText(event: DeployEvent, message: string): string {
  const text = event.action === 'test' ? message : `${eventTitle(event)}: ${message}`;
  return truncate(redact(`${event.action === 'test' ? '' : `${LEVEL_EMOJI[event.level]} `}${text}`.replace(/\s+/g, ' ').trim()), SMS_MAX);
}

export function twilioUrl(cfg: SmsConfig): string {
  return serviceUrl(cfg.api_url, `/2010-04-01/Accounts/${encodeURIComponent(cfg.account_sid)}/Messages.json`);
}

export function smsParts(cfg: SmsConfig, event: DeployEvent, message: string): HttpPart[] {
  const body = smsText(event, message);
  const auth = `Basic ${Buffer.from(`${cfg.account_sid}:${cfg.auth_token}`).toString('base64')}`;
  return cfg.to.map((to) => {
    const form = new URLSearchParams({ To: to });
    if (cfg.from.startsWith('MG')) form.set('MessagingServiceSid', cfg.from);
    else form.set('From', cfg.from);
    form.set('Body', body);
    return {
      label: `to ${to}`,
      url: twilioUrl(cfg),
      body: form.toString(),
      headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
    };
  });
}
