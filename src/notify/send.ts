/**
 * Sending: every configured channel concurrently, one ChannelResult each (see index.ts).
 */
import { Agent } from 'undici';
import { redact, redactDeep } from '../config/secrets.js';
import type { NotificationsConfig, NotifyLevel } from '../config/schema.js';
import { runChannel, urlSecrets, type AttemptContext, type AttemptOutcome } from './attempt.js';
import type { ChannelResult, DeployEvent } from './event.js';
import { renderTemplate, templateFor } from './templates.js';
import { sendSlack } from './channels/slack.js';
import { sendDiscord } from './channels/discord.js';
import { sendEmail } from './channels/email.js';
import { sendTelegram } from './channels/telegram.js';
import { sendWebhook, webhookChannelName } from './channels/webhook.js';

export const DEFAULT_NOTIFY_TIMEOUT_MS = 5000;

export interface SendOptions {
  /** send whatever the `on:` lists say (for `notify --test`) */
  ignoreLevelFilter?: boolean;
  /** aborts pending sends (SIGINT); their results say `aborted` */
  signal?: AbortSignal;
}

interface ChannelJob {
  channel: string;
  on: NotifyLevel[] | undefined;
  scrub: string[];
  send: (message: string, ctx: AttemptContext) => Promise<AttemptOutcome>;
  /** a template of this channel's own (webhooks) */
  template?: string;
}

function jobs(cfg: NotificationsConfig, event: DeployEvent): ChannelJob[] {
  const out: ChannelJob[] = [];
  if (cfg.slack) {
    const c = cfg.slack;
    out.push({ channel: 'slack', on: c.on, scrub: urlSecrets(c.webhook_url), send: (m, ctx) => sendSlack(c, event, m, ctx) });
  }
  if (cfg.discord) {
    const c = cfg.discord;
    out.push({ channel: 'discord', on: c.on, scrub: urlSecrets(c.webhook_url), send: (m, ctx) => sendDiscord(c, event, m, ctx) });
  }
  if (cfg.email) {
    const c = cfg.email;
    out.push({ channel: 'email', on: c.on, scrub: c.pass ? [c.pass] : [], send: (m, ctx) => sendEmail(c, event, m, ctx) });
  }
  if (cfg.telegram) {
    const c = cfg.telegram;
    out.push({ channel: 'telegram', on: c.on, scrub: [c.bot_token, `bot${c.bot_token}`], send: (m, ctx) => sendTelegram(c, event, m, ctx) });
  }
  (cfg.webhooks ?? []).forEach((w) => {
    const scrub = [...urlSecrets(w.url), ...(w.secret ? [w.secret] : []), ...Object.values(w.headers ?? {})];
    out.push({ channel: webhookChannelName(w), on: w.on, scrub, template: w.template, send: (m, ctx) => sendWebhook(w, event, m, ctx) });
  });
  return out;
}

/**
 * Sends `event` to every configured channel whose `on:` (the channel's own, else the global one)
 * includes `event.level`. Resolves once every channel is done; never rejects.
 */
export async function sendNotifications(cfg: NotificationsConfig | undefined, event: DeployEvent, opts: SendOptions = {}): Promise<ChannelResult[]> {
  if (!cfg) return [];
  const safeEvent = redactDeep(event);
  const timeoutMs = cfg.timeout ?? DEFAULT_NOTIFY_TIMEOUT_MS;
  const globalOn = cfg.on ?? ['success', 'failure', 'rollback'];
  const list = jobs(cfg, safeEvent);
  if (!list.length) return [];
  const dispatcher = new Agent({ connect: { timeout: timeoutMs }, pipelining: 0 /* no keep-alive: nothing lingers after the run */ });
  try {
    const settled = await Promise.allSettled(
      list.map(async (job): Promise<ChannelResult> => {
        const on = job.on ?? globalOn;
        if (!opts.ignoreLevelFilter && event.action !== 'test' && !on.includes(event.level)) {
          return { channel: job.channel, ok: true, skipped: true, attempts: 0, durationMs: 0 };
        }
        const message = redact(renderTemplate(templateFor(safeEvent, cfg.templates, job.template), safeEvent));
        return runChannel({
          channel: job.channel,
          timeoutMs,
          signal: opts.signal,
          dispatcher,
          scrub: job.scrub,
          attempt: (ctx) => job.send(message, ctx),
        });
      }),
    );
    return settled.map((s, i) =>
      s.status === 'fulfilled'
        ? s.value
        : { channel: list[i].channel, ok: false, attempts: 0, durationMs: 0, error: redact(s.reason instanceof Error ? s.reason.message : String(s.reason)) },
    );
  } finally {
    await dispatcher.destroy().catch(() => {});
  }
}
