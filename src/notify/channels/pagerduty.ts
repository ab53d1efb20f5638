/**
 * PagerDuty Events API v2. Alerts go to `/v2/enqueue`: a failed deploy (or one that had to be
 * rolled back, or a failed rollback) triggers an alert with `dedup_key` `<project>/<env>`, so
 * repeated failures of one environment stay one incident; the next deploy or rollback that goes
 * live resolves it. Every deploy and rollback outcome is also sent to `/v2/change/enqueue` as a
 * Change Event, which PagerDuty shows beside incidents ("what changed?").
 * `notify --test` sends a Change Event only: a test must not page anybody.
 */
import { redactDeep } from '../../config/secrets.js';
import { eventTitle, isFailure, truncate, type DeployEvent } from '../event.js';
import { serviceUrl, type HttpPart } from '../http.js';

export interface PagerDutyConfig {
  routing_key: string;
  api_url: string;
}

export function pagerdutyDedupKey(event: Pick<DeployEvent, 'project' | 'env'>): string {
  return `${event.project}/${event.env}`;
}

function details(event: DeployEvent): Record<string, unknown> {
  const d: Record<string, unknown> = { project: event.project, environment: event.env, action: event.action, status: event.status, user: event.user };
  if (event.release) d.release = event.release;
  if (event.previousRelease) d.previous_release = event.previousRelease;
  if (event.commit) d.commit = event.commit;
  if (event.hosts.length) d.hosts = event.hosts;
  if (event.host) d.failing_host = event.host;
  if (event.durationMs !== undefined) d.duration_ms = event.durationMs;
  if (event.error) d.error = event.error;
  if (event.warnings?.length) d.warnings = event.warnings;
  if (event.heldBack) d.held_back = event.heldBack;
  return d;
}

const source = (event: DeployEvent) => event.host ?? (event.hosts.length === 1 ? event.hosts[0] : `${event.project}/${event.env}`);

/** The requests for one event: [alert trigger/resolve], [change event]; empty for `started`/`warning`-less levels. */
export function pagerdutyRequests(cfg: PagerDutyConfig, event: DeployEvent, message: string): { kind: 'trigger' | 'resolve' | 'change'; body: Record<string, unknown> }[] {
  const out: { kind: 'trigger' | 'resolve' | 'change'; body: Record<string, unknown> }[] = [];
  const links = event.url ? [{ href: event.url, text: event.url }] : [];
  const summary = truncate(`${eventTitle(event)}: ${message}`.replace(/\s+/g, ' '), 1024);
  const change = {
    routing_key: cfg.routing_key,
    payload: { summary, timestamp: event.timestamp, source: source(event), custom_details: details(event) },
    ...(links.length ? { links } : {}),
  };
  if (event.action === 'test') return [{ kind: 'change', body: change }];
  if (event.level === 'started') return out;
  if (isFailure(event)) {
    out.push({
      kind: 'trigger',
      body: {
        routing_key: cfg.routing_key,
        event_action: 'trigger',
        dedup_key: pagerdutyDedupKey(event),
        payload: {
          summary,
          source: source(event),
          severity: event.status === 'needs_human' || event.action === 'rollback' ? 'critical' : 'error',
          timestamp: event.timestamp,
          component: event.project,
          group: event.env,
          class: event.action,
          custom_details: details(event),
        },
        client: 'ee-deploy',
        ...(links.length ? { links } : {}),
      },
    });
  } else if (event.status !== 'interrupted') {
    // live again (a deploy, or a rollback that worked): the environment's incident is over
    out.push({ kind: 'resolve', body: { routing_key: cfg.routing_key, event_action: 'resolve', dedup_key: pagerdutyDedupKey(event) } });
  }
  // a change happened (or was tried) whatever the outcome; `warning` is an extra note of a deploy already counted
  if (event.level !== 'warning') out.push({ kind: 'change', body: change });
  return out;
}

export function pagerdutyParts(cfg: PagerDutyConfig, event: DeployEvent, message: string): HttpPart[] {
  return pagerdutyRequests(cfg, event, message).map((r) => ({
    label: r.kind === 'change' ? 'change event' : `${r.kind} event`,
    url: serviceUrl(cfg.api_url, r.kind === 'change' ? '/v2/change/enqueue' : '/v2/enqueue'),
    // the routing key must reach PagerDuty: only the rest of the body is redacted
    body: JSON.stringify({ ...redactDeep(r.body), routing_key: cfg.routing_key }),
  }));
}

