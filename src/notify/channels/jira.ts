/**
 * Jira Software deployments API with OAuth 2.0 client credentials (Jira settings > Apps > OAuth
 * credentials, permission "Deployments"):
 *   1. the site's cloud id: `GET https://<site>/_edge/tenant_info` -> `{ cloudId }` (or `cloud_id`)
 *   2. a token: `POST https://api.atlassian.com/oauth/token` (`grant_type: client_credentials`)
 *   3. `POST https://api.atlassian.com/jira/deployments/0.1/cloud/<cloudId>/bulk`, Bearer token.
 * One deployment per run: every notification of a run (started, then the outcome) updates the same
 * deployment (same `deploymentSequenceNumber`, a larger `updateSequenceNumber`). It is linked to
 * the issue keys found in the commit messages of the run's `changes`.
 * `notify --test` gets the cloud id and a token (proving site and credentials) and posts nothing.
 */
import { redactDeep } from '../../config/secrets.js';
import { eventTitle, runKey, truncate, type DeployEvent } from '../event.js';
import type { AttemptContext, AttemptOutcome } from '../attempt.js';
import { requestJson, serviceUrl } from '../http.js';

export interface JiraConfig {
  site: string;
  client_id: string;
  client_secret: string;
  cloud_id?: string;
  environment_type?: JiraEnvironmentType;
  url?: string;
  api_url?: string;
}

export type JiraEnvironmentType = 'production' | 'staging' | 'testing' | 'development' | 'unmapped';
export type JiraState = 'pending' | 'in_progress' | 'successful' | 'failed' | 'rolled_back' | 'cancelled' | 'unknown';

/** Jira issue keys (`SHOP-123`) in commit messages, first seen first, at most `max`. */
export function issueKeysFrom(changes: DeployEvent['changes'], max = 100): string[] {
  const out = new Set<string>();
  for (const c of changes ?? []) {
    for (const m of (c.message ?? '').matchAll(/(?<![A-Za-z0-9_-])([A-Z][A-Z0-9_]+-[1-9][0-9]*)(?![A-Za-z0-9_])/g)) {
      out.add(m[1]);
      if (out.size >= max) return [...out];
    }
  }
  return [...out];
}

export function jiraEnvironmentType(env: string): JiraEnvironmentType {
  const e = env.toLowerCase();
  if (/prod|live/.test(e)) return 'production';
  if (/stag|preprod|uat/.test(e)) return 'staging';
  if (/test|qa/.test(e)) return 'testing';
  if (/dev|local/.test(e)) return 'development';
  return 'unmapped';
}

export function jiraState(event: DeployEvent): JiraState {
  if (event.level === 'started') return 'in_progress';
  if (event.status === 'canary') return 'in_progress';
  if (event.status === 'interrupted') return 'cancelled';
  if (event.status === 'rolled_back' && event.action === 'deploy') return 'rolled_back';
  if (event.level === 'failure') return 'failed';
  return 'successful';
}

/** Where the deployment links to: `url`, else the CI run (GitHub Actions, GitLab), else the app, else the site. */
export function jiraLinkUrl(cfg: Pick<JiraConfig, 'url' | 'site'>, event: DeployEvent, env: NodeJS.ProcessEnv = process.env): string {
  if (cfg.url) return cfg.url;
  if (env.GITHUB_SERVER_URL && env.GITHUB_REPOSITORY && env.GITHUB_RUN_ID) return `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}`;
  if (env.CI_JOB_URL) return env.CI_JOB_URL;
  return event.url ?? `https://${cfg.site}`;
}

export function jiraDeployment(cfg: JiraConfig, event: DeployEvent, message: string, now = Date.now(), env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  const keys = issueKeysFrom(event.changes);
  const url = jiraLinkUrl(cfg, event, env);
  const started = Date.parse(event.runStarted ?? '') || Date.parse(event.timestamp) || now;
  const what = event.action === 'rollback' ? `rollback to ${event.release ?? 'the previous release'}` : event.release ?? runKey(event);
  const deployment = {
    deploymentSequenceNumber: started,
    updateSequenceNumber: now,
    // no keys: no associations field (an empty list is not a valid association set)
    ...(keys.length ? { associations: [{ associationType: 'issueIdOrKeys', values: keys }] } : {}),
    displayName: truncate(`${event.project} ${what}`, 255),
    url,
    description: truncate(`${eventTitle(event)}: ${message}`, 255),
    lastUpdated: new Date(now).toISOString(),
    label: truncate(event.release ?? what, 255),
    state: jiraState(event),
    pipeline: { id: `ee-deploy/${event.project}`, displayName: `ee-deploy ${event.project}`, url },
    environment: { id: event.env, displayName: event.env, type: cfg.environment_type ?? jiraEnvironmentType(event.env) },
    schemaVersion: '1.0',
  };
  return redactDeep({ deployments: [deployment], providerMetadata: { product: 'ee-deploy' } });
}

const tokens = new Map<string, { token: string; until: number }>();
const cloudIds = new Map<string, string>();

const base = (cfg: JiraConfig) => ({
  site: cfg.api_url ?? `https://${cfg.site}`,
  api: cfg.api_url ?? 'https://api.atlassian.com',
});

async function cloudId(cfg: JiraConfig, ctx: AttemptContext): Promise<{ ok: true; id: string } | { ok: false; error: string; retryable: boolean }> {
  const known = cfg.cloud_id ?? cloudIds.get(cfg.site);
  if (known) return { ok: true, id: known };
  const r = await requestJson(serviceUrl(base(cfg).site, '/_edge/tenant_info'), ctx);
  if (!r.ok) return { ...r, error: `cloud id of ${cfg.site}: ${r.error}` };
  const id = (r.json as { cloudId?: unknown })?.cloudId;
  if (typeof id !== 'string' || !/^[A-Za-z0-9-]+$/.test(id)) return { ok: false, error: `cloud id of ${cfg.site}: no cloudId in the answer (is site a Jira Cloud host?)`, retryable: false };
  cloudIds.set(cfg.site, id);
  return { ok: true, id };
}

async function accessToken(cfg: JiraConfig, ctx: AttemptContext, scrub: string[]): Promise<{ ok: true; token: string } | { ok: false; error: string; retryable: boolean }> {
  const key = `${base(cfg).api}|${cfg.client_id}`;
  const cached = tokens.get(key);
  if (cached && cached.until > Date.now()) return { ok: true, token: cached.token };
  const body = JSON.stringify({ audience: 'api.atlassian.com', grant_type: 'client_credentials', client_id: cfg.client_id, client_secret: cfg.client_secret });
  const r = await requestJson(serviceUrl(base(cfg).api, '/oauth/token'), ctx, { method: 'POST', body });
  if (!r.ok) return { ...r, error: `OAuth token: ${r.error}${/HTTP 40[013]/.test(r.error) ? ' (check client_id and client_secret)' : ''}` };
  const j = r.json as { access_token?: unknown; expires_in?: unknown };
  if (typeof j?.access_token !== 'string' || !j.access_token) return { ok: false, error: 'OAuth token: no access_token in the answer', retryable: false };
  scrub.push(j.access_token);
  const ttl = typeof j.expires_in === 'number' ? j.expires_in : 3600;
  tokens.set(key, { token: j.access_token, until: Date.now() + Math.max(0, ttl - 60) * 1000 });
  return { ok: true, token: j.access_token };
}

/** `scrub` receives the access token once there is one, so no error text can show it. */
export async function sendJira(cfg: JiraConfig, event: DeployEvent, message: string, ctx: AttemptContext, scrub: string[]): Promise<AttemptOutcome> {
  const id = await cloudId(cfg, ctx);
  if (!id.ok) return id;
  const token = await accessToken(cfg, ctx, scrub);
  if (!token.ok) return token;
  if (event.action === 'test') return { ok: true };
  const url = serviceUrl(base(cfg).api, `/jira/deployments/0.1/cloud/${id.id}/bulk`);
  const r = await requestJson(url, ctx, { method: 'POST', body: JSON.stringify(jiraDeployment(cfg, event, message)), headers: { authorization: `Bearer ${token.token}` } });
  if (!r.ok) {
    if (/HTTP 401/.test(r.error)) tokens.delete(`${base(cfg).api}|${cfg.client_id}`);
    return { ...r, error: `deployments: ${r.error}` };
  }
  const j = r.json as { rejectedDeployments?: { errors?: { message?: string }[] }[]; unknownIssueKeys?: string[] };
  if (j?.rejectedDeployments?.length) {
    const why = j.rejectedDeployments[0].errors?.map((e) => e.message).filter(Boolean).join('; ') || 'rejected';
    return { ok: false, error: `deployment rejected: ${why}`, retryable: false };
  }
  return { ok: true };
}
