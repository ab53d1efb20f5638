/**
 * Datadog Events API (v1, `POST /api/v1/events` on the API host of the configured site, key in
 * the `DD-API-KEY` header): one event per notification, tagged with project, env and release, and
 * aggregated per `<project>/<env>` so one environment's deploys group together in the explorer.
 */
import { redactDeep } from '../../config/secrets.js';
import { eventDetails, eventTitle, isFailure, truncate, type DeployEvent } from '../event.js';
import { sendJson, type AttemptContext, type AttemptOutcome } from '../attempt.js';
import { serviceUrl } from '../http.js';

export interface DatadogConfig {
  api_key: string;
  site: string;
  tags: string[];
  api_url?: string;
}

/** `datadoghq.eu` and `app.datadoghq.eu` both mean https://api.datadoghq.eu */
export function datadogApiBase(site: string): string {
  return `https://api.${site.replace(/^(app|api)\./i, '').toLowerCase()}`;
}

export function datadogUrl(cfg: DatadogConfig): string {
  return serviceUrl(datadogApiBase(cfg.site), '/api/v1/events', cfg.api_url);
}

/** Datadog tags: lower case, no spaces, at most 200 characters */
function tag(key: string, value: string): string {
  return `${key}:${value}`.toLowerCase().replace(/[^a-z0-9_:./-]/g, '_').slice(0, 200);
}

export function datadogPayload(cfg: Pick<DatadogConfig, 'tags'>, event: DeployEvent, message: string): Record<string, unknown> {
  const alertType = event.action === 'test' ? 'info' : isFailure(event) ? 'error' : event.level === 'success' || event.level === 'rollback' ? 'success' : event.level === 'warning' ? 'warning' : 'info';
  const lines = eventDetails(event)
    .filter((d) => !['Project', 'Environment'].includes(d.label))
    .map((d) => `${d.label}: ${d.value}`);
  const tags = [tag('project', event.project), tag('env', event.env), tag('action', event.action), tag('status', event.status), 'source:ee-deploy'];
  if (event.release) tags.push(tag('release', event.release));
  return redactDeep({
    title: truncate(eventTitle(event), 100),
    text: truncate([message, '', ...lines].join('\n'), 4000),
    alert_type: alertType,
    priority: isFailure(event) ? 'normal' : 'low',
    aggregation_key: truncate(`${event.project}/${event.env}`, 100),
    date_happened: Math.floor(Date.parse(event.timestamp) / 1000),
    tags: [...tags, ...cfg.tags],
    ...(event.host ? { host: event.host } : {}),
  });
}

export function sendDatadog(cfg: DatadogConfig, event: DeployEvent, message: string, ctx: AttemptContext): Promise<AttemptOutcome> {
  return sendJson(datadogUrl(cfg), JSON.stringify(datadogPayload(cfg, event, message)), ctx, { headers: { 'DD-API-KEY': cfg.api_key } });
}
