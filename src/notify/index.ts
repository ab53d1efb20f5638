/**
 * Deploy notifications (`notifications:`): Slack, Discord, e-mail, Telegram, Microsoft Teams,
 * Google Chat, PagerDuty, Datadog, SMS (Twilio), Jira and generic webhooks, sent concurrently.
 * Routing (`on:`, `envs:`), suppression and escalation: routing.ts. A failing channel never throws and never fails the deploy:
 * every channel's outcome comes back as a ChannelResult.
 *
 * Secrets: the event is redacted before rendering, every rendered text and payload is redacted
 * again, and error texts are redacted and stripped of the channel's URL/token.
 *
 * Time: each attempt is bounded by `notifications.timeout` (default 5s); 5xx and network errors
 * are retried twice (200ms, 400ms backoff), 4xx and timeouts are not; all attempts of a channel
 * share a deadline of timeout + 600ms.
 */
export type { ChannelResult, DeployEvent, NotifyLevel } from './event.js';
export { LEVEL_COLORS, eventTitle } from './event.js';
export { renderTemplate, DEFAULT_TEMPLATES, TEST_TEMPLATE } from './templates.js';
export { NOTIFY_LEVELS, PLACEHOLDERS, templateProblem, validateTemplates, type TemplateIssue } from '../config/notify-vocabulary.js';
export { sendNotifications, DEFAULT_NOTIFY_TIMEOUT_MS, type SendOptions } from './send.js';
export { decide, failureStreak, levelSelected, routeProblem, heldBackNote, type PastRun, type Decision } from './routing.js';
export { runNotifyTest, formatResultsTable, type TestEventBase } from './test-command.js';
