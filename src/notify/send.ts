/**
 * Sending: every configured channel concurrently, one ChannelResult each (see index.ts).
 * Routing, suppression and escalation are decided first (routing.ts); each channel then gets
 * the rendered message through the shared retry engine.
 */
import { Agent } from 'undici';
import { formatDuration } from '../config/duration.js';
import { redact, redactDeep } from '../config/secrets.js';
import { DEFAULT_ON, type RouteLevel } from '../config/notify-vocabulary.js';
import type { NotificationsConfig } from '../config/schema.js';
import { runChannel, urlSecrets, type AttemptContext, type AttemptOutcome } from './attempt.js';
import { isFailure, type ChannelResult, type DeployEvent } from './event.js';
import { decide, heldBackNote, routeProblem, type Decision, type PastRun, type Route } from './routing.js';
import { renderTemplate, templateFor } from './templates.js';
import { newPartsState, sendParts, type HttpPart } from './http.js';
import { sendSlack } from './channels/slack.js';
import { sendDiscord } from './channels/discord.js';
import { sendEmail } from './channels/email.js';
import { sendTelegram } from './channels/telegram.js';
import { sendWebhook, webhookChannelName } from './channels/webhook.js';
import { sendTeams } from './channels/teams.js';
import { sendGoogleChat } from './channels/google-chat.js';
import { pagerdutyParts } from './channels/pagerduty.js';
import { sendDatadog } from './channels/datadog.js';
import { smsParts } from './channels/sms.js';
import { sendJira } from './channels/jira.js';

export const DEFAULT_NOTIFY_TIMEOUT_MS = 5000;
/** SMS wakes people up: failures only, unless `sms.on` says otherwise */
export const SMS_DEFAULT_ON: readonly RouteLevel[] = ['failure', 'needs_human'];

export interface SendOptions {
  /** send whatever the `on:`/`envs:` lists say (for `notify --test`) */
  ignoreLevelFilter?: boolean;
  /** aborts pending sends (SIGINT); their results say `aborted` */
  signal?: AbortSignal;
  /**
   * The deploy history of the environment's servers (every host's records); read only when
   * `suppress` or `escalate` is configured. Unreadable history: nothing is suppressed and
   * escalation channels are not held back (a missed page is worse than an early one).
   */
  history?: () => Promise<PastRun[]>;
  /** problems that are not a channel's (history unreadable) */
  onWarning?: (warning: string) => void;
}

interface ChannelJob {
  channel: string;
  /** the name `escalate.to` uses */
  key: string;
  route: Route;
  defaultOn?: readonly RouteLevel[];
  scrub: string[];
  /** a template of this channel's own (webhooks) */
  template?: string;
  /** builds the attempt for a message; `undefined` = nothing to send for this event */
  prepare: (message: string) => ((ctx: AttemptContext) => Promise<AttemptOutcome>) | undefined;
}

/** URL parts that can hold a secret, query values included (Teams `sig`, Google Chat `key`/`token`). */
function webhookUrlSecrets(url: string): string[] {
  const out = urlSecrets(url);
  try {
    for (const v of new URL(url).searchParams.values()) if (v.length >= 8) out.push(v, encodeURIComponent(v));
  } catch {
    /* not a URL: urlSecrets has it whole */
  }
  return out;
}

function partsJob(parts: HttpPart[]): ((ctx: AttemptContext) => Promise<AttemptOutcome>) | undefined {
  if (!parts.length) return undefined;
  const state = newPartsState();
  return (ctx) => sendParts(parts, state, ctx);
}

function jobs(cfg: NotificationsConfig, event: DeployEvent): ChannelJob[] {
  const out: ChannelJob[] = [];
  const simple = (channel: string, c: Route, scrub: string[], send: (m: string, ctx: AttemptContext) => Promise<AttemptOutcome>, extra: Partial<ChannelJob> = {}) =>
    out.push({ channel, key: channel, route: c, scrub, prepare: (m) => (ctx) => send(m, ctx), ...extra });
  if (cfg.slack) {
    const c = cfg.slack;
    simple('slack', c, urlSecrets(c.webhook_url), (m, ctx) => sendSlack(c, event, m, ctx));
  }
  if (cfg.discord) {
    const c = cfg.discord;
    simple('discord', c, urlSecrets(c.webhook_url), (m, ctx) => sendDiscord(c, event, m, ctx));
  }
  if (cfg.email) {
    const c = cfg.email;
    simple('email', c, c.pass ? [c.pass] : [], (m, ctx) => sendEmail(c, event, m, ctx));
  }
  if (cfg.telegram) {
    const c = cfg.telegram;
    simple('telegram', c, [c.bot_token, `bot${c.bot_token}`], (m, ctx) => sendTelegram(c, event, m, ctx));
  }
  if (cfg.teams) {
    const c = cfg.teams;
    simple('teams', c, webhookUrlSecrets(c.webhook_url), (m, ctx) => sendTeams(c, event, m, ctx));
  }
  if (cfg.google_chat) {
    const c = cfg.google_chat;
    simple('google_chat', c, webhookUrlSecrets(c.webhook_url), (m, ctx) => sendGoogleChat(c, event, m, ctx));
  }
  if (cfg.pagerduty) {
    const c = cfg.pagerduty;
    out.push({ channel: 'pagerduty', key: 'pagerduty', route: c, scrub: [c.routing_key], prepare: (m) => partsJob(pagerdutyParts(c, event, m)) });
  }
  if (cfg.datadog) {
    const c = cfg.datadog;
    simple('datadog', c, [c.api_key], (m, ctx) => sendDatadog(c, event, m, ctx));
  }
  if (cfg.sms) {
    const c = cfg.sms;
    const basic = Buffer.from(`${c.account_sid}:${c.auth_token}`).toString('base64');
    out.push({ channel: 'sms', key: 'sms', route: c, defaultOn: SMS_DEFAULT_ON, scrub: [c.auth_token, basic], prepare: (m) => partsJob(smsParts(c, event, m)) });
  }
  if (cfg.jira) {
    const c = cfg.jira;
    const scrub = [c.client_secret];
    simple('jira', c, scrub, (m, ctx) => sendJira(c, event, m, ctx, scrub));
  }
  (cfg.webhooks ?? []).forEach((w) => {
    const scrub = [...urlSecrets(w.url), ...(w.secret ? [w.secret] : []), ...Object.values(w.headers ?? {})];
    simple(webhookChannelName(w), w, scrub, (m, ctx) => sendWebhook(w, event, m, ctx), { key: 'webhooks', template: w.template });
  });
  return out;
}

/** Whether `escalate.to` names this job. */
function escalated(cfg: NotificationsConfig, job: ChannelJob): boolean {
  return !!cfg.escalate?.to.some((name) => name === job.key || name === job.channel);
}

const skipped = (channel: string, reason: string): ChannelResult => ({ channel, ok: true, skipped: true, reason, attempts: 0, durationMs: 0 });

/** Suppression/escalation state; read from the servers' history only when configured. */
async function decision(cfg: NotificationsConfig, event: DeployEvent, list: ChannelJob[], globalOn: readonly RouteLevel[], opts: SendOptions): Promise<Decision | undefined> {
  if (event.action === 'test' || (!cfg.suppress && !cfg.escalate) || !opts.history) return undefined;
  let history: PastRun[];
  // a host that stopped answering must not hold the notification back longer than a channel could
  const limitMs = cfg.timeout ?? DEFAULT_NOTIFY_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  try {
    history = await Promise.race([
      opts.history(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${formatDuration(limitMs)}`)), limitMs);
      }),
    ]);
  } catch (e) {
    opts.onWarning?.(redact(`notifications: could not read the history for suppress/escalate (${(e as Error).message}); sending without them`));
    return undefined;
  } finally {
    clearTimeout(timer);
  }
  return decide(event, history, {
    suppressMs: cfg.suppress,
    wasSent: (level, status) => list.some((j) => !routeProblem(j.route, j.defaultOn ?? globalOn, { level, status, env: event.env })),
  });
}

/**
 * Sends `event` to every configured channel that routing selects (see routing.ts). Resolves once
 * every channel is done; never rejects.
 */
export async function sendNotifications(cfg: NotificationsConfig | undefined, event: DeployEvent, opts: SendOptions = {}): Promise<ChannelResult[]> {
  if (!cfg) return [];
  const timeoutMs = cfg.timeout ?? DEFAULT_NOTIFY_TIMEOUT_MS;
  const globalOn = cfg.on ?? DEFAULT_ON;
  const test = opts.ignoreLevelFilter || event.action === 'test';
  const probe = jobs(cfg, event);
  if (!probe.length) return [];
  const d = test ? undefined : await decision(cfg, event, probe, globalOn, opts);
  const safeEvent = redactDeep(d?.heldBack && !d.suppressed ? { ...event, heldBack: d.heldBack } : event);
  const list = jobs(cfg, safeEvent);
  const dispatcher = new Agent({ connect: { timeout: timeoutMs }, pipelining: 0 /* no keep-alive: nothing lingers after the run */ });
  try {
    const settled = await Promise.allSettled(
      list.map(async (job): Promise<ChannelResult> => {
        if (!test) {
          const why = routeProblem(job.route, job.defaultOn ?? globalOn, event);
          if (why) return skipped(job.channel, why === 'env' ? `not for environment ${event.env}` : `level ${event.level} not selected`);
          if (d?.suppressed) return skipped(job.channel, `suppressed: identical failure within ${formatDuration(cfg.suppress ?? 0)}`);
          if (cfg.escalate && escalated(cfg, job) && isFailure(event) && (d?.streak ?? cfg.escalate.after) < cfg.escalate.after) {
            return skipped(job.channel, `escalation: failure ${d?.streak ?? 0} of ${cfg.escalate.after}`);
          }
        }
        let message = redact(renderTemplate(templateFor(safeEvent, cfg.templates, job.template), safeEvent));
        if (safeEvent.heldBack) message = `${message}\n${heldBackNote(safeEvent.heldBack)}`;
        const attempt = job.prepare(message);
        if (!attempt) return skipped(job.channel, 'nothing to send for this event');
        return runChannel({ channel: job.channel, timeoutMs, signal: opts.signal, dispatcher, scrub: job.scrub, attempt });
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
