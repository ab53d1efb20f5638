/**
 * Teams, Google Chat, PagerDuty, Datadog, Twilio SMS and Jira against local HTTP recorders
 * (one per service, on 127.0.0.1, reached through each channel's `api_url`): exact method, path,
 * headers and body shape; retries on 5xx without duplicates; a hanging service bounded by its
 * timeout; routing; suppression and escalation decided from history records; no secret anywhere.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { notificationsSchema, type NotificationsConfig } from '../../src/config/schema.js';
import { clearSecrets, registerSecret } from '../../src/config/secrets.js';
import { runNotifyTest, sendNotifications, type ChannelResult, type DeployEvent, type PastRun } from '../../src/notify/index.js';
import { httpRecorder, silentServer, type HttpRecorder, type RecordedRequest } from '../helpers/http-recorder.js';

const S = {
  teamsSig: 'teamsSig0123456789abcdef',
  gchatKey: 'gchatKeyAbc123456',
  gchatToken: 'gchatTokenXyz987654',
  pdKey: 'R0123456789abcdef0123456789abcde',
  ddKey: 'ddApiKey0123456789abcdef',
  twToken: 'twilioAuthToken0123456789',
  jiraSecret: 'jiraClientSecret-0123456789',
};
const ACCESS_TOKEN = 'jiraAccessToken-ABCDEF123456';
const CLOUD_ID = '11111111-2222-3333-4444-555555555555';
const SID = 'AC0123456789abcdef0123456789abcdef';

let svc: Record<'teams' | 'gchat' | 'pd' | 'dd' | 'twilio' | 'jira', HttpRecorder>;

beforeAll(async () => {
  const [teams, gchat, pd, dd, twilio, jira] = await Promise.all([httpRecorder(), httpRecorder(), httpRecorder(), httpRecorder(), httpRecorder(), httpRecorder()]);
  svc = { teams, gchat, pd, dd, twilio, jira };
});
afterAll(async () => {
  await Promise.all(Object.values(svc).map((s) => s.close()));
});
afterEach(() => {
  for (const s of Object.values(svc)) {
    s.requests.length = 0;
    s.routes = {};
  }
  clearSecrets();
});

function setup(extra: Record<string, unknown> = {}, channels: Record<string, Record<string, unknown>> = {}): NotificationsConfig {
  for (const v of Object.values(S)) registerSecret(v);
  svc.jira.routes['/_edge/tenant_info'] = { body: { cloudId: CLOUD_ID } };
  svc.jira.routes['/oauth/token'] = { body: { access_token: ACCESS_TOKEN, expires_in: 3600, token_type: 'Bearer' } };
  svc.jira.routes['/jira/deployments/0.1/cloud/'] = { body: { acceptedDeployments: [{}], rejectedDeployments: [], unknownIssueKeys: [] } };
  return notificationsSchema.parse({
    on: ['started', 'success', 'failure', 'rollback'],
    timeout: '2s',
    teams: { webhook_url: `https://prod-12.westeurope.logic.azure.com:443/workflows/abc123/triggers/manual/paths/invoke?api-version=2016-06-01&sig=${S.teamsSig}`, api_url: svc.teams.url, ...channels.teams },
    google_chat: { webhook_url: `https://chat.googleapis.com/v1/spaces/AAAAxyz/messages?key=${S.gchatKey}&token=${S.gchatToken}`, api_url: svc.gchat.url, ...channels.google_chat },
    pagerduty: { routing_key: S.pdKey, api_url: svc.pd.url, ...channels.pagerduty },
    datadog: { api_key: S.ddKey, site: 'datadoghq.eu', tags: ['team:web'], api_url: svc.dd.url, ...channels.datadog },
    sms: { account_sid: SID, auth_token: S.twToken, from: '+15550000001', to: ['+15550000002', '+15550000003'], api_url: svc.twilio.url, ...channels.sms },
    jira: { site: 'acme.atlassian.net', client_id: 'jiraClientId', client_secret: S.jiraSecret, api_url: svc.jira.url, url: 'https://ci.example.com/run/7', ...channels.jira },
    ...extra,
  });
}

function event(o: Partial<DeployEvent> = {}): DeployEvent {
  return {
    level: 'failure',
    action: 'deploy',
    project: 'shop',
    env: 'production',
    release: '20260101120000',
    commit: '0123456789abcdef0123456789abcdef01234567',
    hosts: ['web1', 'web2'],
    host: 'web2',
    user: 'ann',
    durationMs: 12_300,
    status: 'failed',
    error: 'health check "home" failed after 3 attempts: HTTP 500',
    timestamp: new Date().toISOString(),
    run: 'run-1',
    runStarted: '2026-01-01T12:00:00.000Z',
    changes: [{ sha: 'a1', message: 'SHOP-12 fix the cart\n\nalso OPS-7' }, { sha: 'b2', message: 'tidy up' }],
    ...o,
  };
}

const byChannel = (rs: ChannelResult[], c: string) => rs.find((r) => r.channel === c)!;
const allRequests = () => Object.values(svc).flatMap((s) => s.requests);

describe('each service gets the request its API documents', () => {
  it('a failed deploy: Teams card, Google Chat thread, PagerDuty trigger + change, Datadog error event, one SMS per number, a Jira deployment', async () => {
    const cfg = setup();
    const results = await sendNotifications(cfg, event());
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(results.map((r) => r.channel).sort()).toEqual(['datadog', 'google_chat', 'jira', 'pagerduty', 'sms', 'teams']);

    // Teams: POST to the workflow URL (path and query kept), a message with one Adaptive Card attachment
    expect(svc.teams.requests).toHaveLength(1);
    const t = svc.teams.requests[0];
    expect(t.method).toBe('POST');
    expect(t.url).toBe(`/workflows/abc123/triggers/manual/paths/invoke?api-version=2016-06-01&sig=${S.teamsSig}`);
    expect(t.headers['content-type']).toMatch(/^application\/json/);
    expect(t.json.type).toBe('message');
    expect(t.json.attachments).toHaveLength(1);
    expect(t.json.attachments[0].contentType).toBe('application/vnd.microsoft.card.adaptive');
    const card = t.json.attachments[0].content;
    expect(card).toMatchObject({ type: 'AdaptiveCard', version: '1.4', $schema: 'http://adaptivecards.io/schemas/adaptive-card.json' });
    expect(card.body[0]).toMatchObject({ type: 'TextBlock', text: 'shop production: deploy FAILED', color: 'Attention' });
    expect(card.body[1].text).toContain('failed on web2');
    expect(card.body.find((b: { type: string }) => b.type === 'FactSet').facts).toContainEqual({ title: 'Release', value: '20260101120000' });

    // Google Chat: the webhook URL plus messageReplyOption, the thread named by the run
    const g = svc.gchat.requests[0];
    expect(g.method).toBe('POST');
    const gu = new URL(g.url, 'http://x');
    expect(gu.pathname).toBe('/v1/spaces/AAAAxyz/messages');
    expect(gu.searchParams.get('key')).toBe(S.gchatKey);
    expect(gu.searchParams.get('token')).toBe(S.gchatToken);
    expect(gu.searchParams.get('messageReplyOption')).toBe('REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD');
    expect(g.headers['content-type']).toMatch(/^application\/json/);
    expect(g.json.thread).toEqual({ threadKey: 'ee-deploy-shop-production-run-1' });
    expect(g.json.text).toMatch(/^\*shop production: deploy FAILED\*\n/);

    // PagerDuty: trigger on /v2/enqueue, change event on /v2/change/enqueue
    expect(svc.pd.requests.map((r) => `${r.method} ${r.url}`)).toEqual(['POST /v2/enqueue', 'POST /v2/change/enqueue']);
    const [trig, change] = svc.pd.requests.map((r) => r.json);
    expect(trig).toMatchObject({ routing_key: S.pdKey, event_action: 'trigger', dedup_key: 'shop/production', client: 'ee-deploy' });
    expect(trig.payload).toMatchObject({ source: 'web2', severity: 'error', component: 'shop', group: 'production', class: 'deploy' });
    expect(trig.payload.summary).toMatch(/^shop production: deploy FAILED: /);
    expect(trig.payload.custom_details).toMatchObject({ release: '20260101120000', error: 'health check "home" failed after 3 attempts: HTTP 500' });
    expect(change).toMatchObject({ routing_key: S.pdKey, payload: { source: 'web2' } });
    expect(change.event_action).toBeUndefined();

    // Datadog: v1 events, key in DD-API-KEY
    const d = svc.dd.requests[0];
    expect(`${d.method} ${d.url}`).toBe('POST /api/v1/events');
    expect(d.headers['dd-api-key']).toBe(S.ddKey);
    expect(d.json).toMatchObject({ title: 'shop production: deploy FAILED', alert_type: 'error', priority: 'normal', aggregation_key: 'shop/production', host: 'web2' });
    expect(d.json.tags).toEqual(expect.arrayContaining(['project:shop', 'env:production', 'release:20260101120000', 'source:ee-deploy', 'team:web']));
    expect(typeof d.json.date_happened).toBe('number');

    // Twilio: one form POST per number, Basic auth
    expect(svc.twilio.requests).toHaveLength(2);
    for (const r of svc.twilio.requests) {
      expect(`${r.method} ${r.url}`).toBe(`POST /2010-04-01/Accounts/${SID}/Messages.json`);
      expect(r.headers.authorization).toBe(`Basic ${Buffer.from(`${SID}:${S.twToken}`).toString('base64')}`);
      expect(r.headers['content-type']).toBe('application/x-www-form-urlencoded');
      expect(r.form?.From).toBe('+15550000001');
      expect(r.form?.Body).toMatch(/shop production: deploy FAILED/);
    }
    expect(svc.twilio.requests.map((r) => r.form?.To)).toEqual(['+15550000002', '+15550000003']);

    // Jira: cloud id, token (client credentials), then the deployment linked to the issue keys
    expect(svc.jira.requests.map((r) => `${r.method} ${r.url}`)).toEqual(['GET /_edge/tenant_info', 'POST /oauth/token', `POST /jira/deployments/0.1/cloud/${CLOUD_ID}/bulk`]);
    expect(svc.jira.requests[1].json).toEqual({ audience: 'api.atlassian.com', grant_type: 'client_credentials', client_id: 'jiraClientId', client_secret: S.jiraSecret });
    const bulk = svc.jira.requests[2];
    expect(bulk.headers.authorization).toBe(`Bearer ${ACCESS_TOKEN}`);
    expect(bulk.json.deployments).toHaveLength(1);
    const dep = bulk.json.deployments[0];
    expect(dep).toMatchObject({
      deploymentSequenceNumber: Date.parse('2026-01-01T12:00:00.000Z'),
      associations: [{ associationType: 'issueIdOrKeys', values: ['SHOP-12', 'OPS-7'] }],
      state: 'failed',
      label: '20260101120000',
      url: 'https://ci.example.com/run/7',
      pipeline: { id: 'ee-deploy/shop', displayName: 'ee-deploy shop' },
      environment: { id: 'production', displayName: 'production', type: 'production' },
      schemaVersion: '1.0',
    });
    expect(typeof dep.updateSequenceNumber).toBe('number');
  });

  it('one run is one Google Chat thread and one Jira deployment; PagerDuty resolves on the next success', async () => {
    const cfg = setup();
    await sendNotifications(cfg, event({ level: 'started', status: 'started', error: undefined, host: undefined }));
    await sendNotifications(cfg, event({ level: 'success', status: 'success', error: undefined, host: undefined }));
    await sendNotifications(cfg, event({ level: 'started', status: 'started', error: undefined, host: undefined, run: 'run-2', runStarted: '2026-01-01T13:00:00.000Z' }));
    const threads = svc.gchat.requests.map((r) => r.json.thread.threadKey);
    expect(threads).toEqual(['ee-deploy-shop-production-run-1', 'ee-deploy-shop-production-run-1', 'ee-deploy-shop-production-run-2']);
    const deps = svc.jira.requests.filter((r) => r.url.endsWith('/bulk')).map((r) => r.json.deployments[0]);
    expect(deps.map((x) => [x.deploymentSequenceNumber, x.state])).toEqual([
      [Date.parse('2026-01-01T12:00:00.000Z'), 'in_progress'],
      [Date.parse('2026-01-01T12:00:00.000Z'), 'successful'],
      [Date.parse('2026-01-01T13:00:00.000Z'), 'in_progress'],
    ]);
    expect(deps[1].updateSequenceNumber).toBeGreaterThan(deps[0].updateSequenceNumber);
    // the token and the cloud id are fetched once per process
    expect(svc.jira.requests.filter((r) => r.url === '/oauth/token').length).toBeLessThanOrEqual(1);
    // started: nothing for PagerDuty; success: resolve + change event
    expect(svc.pd.requests.map((r) => r.json.event_action ?? 'change')).toEqual(['resolve', 'change']);
    expect(svc.pd.requests[0].json).toEqual({ routing_key: S.pdKey, event_action: 'resolve', dedup_key: 'shop/production' });
    // SMS: failures only by default
    expect(svc.twilio.requests).toHaveLength(0);
    expect(svc.dd.requests.map((r) => r.json.alert_type)).toEqual(['info', 'success', 'info']);
  });
});

describe('failures cost what they should', () => {
  it('a 5xx is retried, and only what did not arrive is sent again (no second SMS, no duplicate change event)', async () => {
    const cfg = setup();
    svc.twilio.routes['/2010-04-01/'] = { statuses: [200, 503, 201] }; // 1st number ok, 2nd 503 then ok
    svc.pd.routes['/v2/change/enqueue'] = { statuses: [502] };
    svc.dd.routes['/api/v1/events'] = { statuses: [500, 500, 202] };
    const results = await sendNotifications(cfg, event());
    expect(byChannel(results, 'sms')).toMatchObject({ ok: true, attempts: 2 });
    expect(svc.twilio.requests.map((r) => r.form?.To)).toEqual(['+15550000002', '+15550000003', '+15550000003']);
    expect(byChannel(results, 'pagerduty')).toMatchObject({ ok: true, attempts: 2 });
    expect(svc.pd.requests.map((r) => r.url)).toEqual(['/v2/enqueue', '/v2/change/enqueue', '/v2/change/enqueue']);
    expect(byChannel(results, 'datadog')).toMatchObject({ ok: true, attempts: 3 });
  });

  it('a 4xx is final; one bad number does not stop the others', async () => {
    const cfg = setup();
    svc.twilio.routes['/2010-04-01/'] = { statuses: [400, 201] };
    const results = await sendNotifications(cfg, event());
    const sms = byChannel(results, 'sms');
    expect(sms).toMatchObject({ ok: false, attempts: 1 });
    expect(sms.error).toBe('to +15550000002: HTTP 400 (error 400)');
    expect(svc.twilio.requests.map((r) => r.form?.To)).toEqual(['+15550000002', '+15550000003']);
  });

  it('a service that never answers costs at most its timeout (+ the retry budget); the others are not delayed', async () => {
    const dead = await silentServer();
    try {
      // 1.5 s: far enough above a loopback POST on a loaded CI machine that "not delayed" is a
      // clear difference, not a race
      const cfg = setup({ timeout: '1500ms' }, { datadog: { api_url: dead.url }, jira: { api_url: dead.url, cloud_id: CLOUD_ID } });
      const t0 = performance.now();
      const results = await sendNotifications(cfg, event({ run: 'run-dead' }));
      const took = performance.now() - t0;
      expect(byChannel(results, 'datadog')).toMatchObject({ ok: false, attempts: 1, error: expect.stringMatching(/^timed out/) });
      expect(byChannel(results, 'jira').ok).toBe(false);
      expect(took).toBeLessThan(1500 + 1500 + 900);
      expect(byChannel(results, 'teams').durationMs).toBeLessThan(750);
      expect(byChannel(results, 'pagerduty').ok).toBe(true);
    } finally {
      await dead.close();
    }
  });
});

describe('routing', () => {
  it('envs: and on: per channel; SMS defaults to failure and needs_human', async () => {
    const cfg = setup({}, { teams: { envs: ['staging'] }, datadog: { on: ['success'] }, google_chat: { on: ['needs_human'] } });
    const failed = await sendNotifications(cfg, event());
    expect(byChannel(failed, 'teams')).toMatchObject({ skipped: true, reason: 'not for environment production' });
    expect(byChannel(failed, 'datadog')).toMatchObject({ skipped: true, reason: 'level failure not selected' });
    expect(byChannel(failed, 'google_chat')).toMatchObject({ skipped: true });
    expect(byChannel(failed, 'sms').skipped).toBeUndefined();
    const human = await sendNotifications(cfg, event({ status: 'needs_human' }));
    expect(byChannel(human, 'google_chat').skipped).toBeUndefined();
    const ok = await sendNotifications(cfg, event({ level: 'success', status: 'success', error: undefined }));
    expect(byChannel(ok, 'sms')).toMatchObject({ skipped: true });
    expect(byChannel(ok, 'datadog').skipped).toBeUndefined();
    expect(svc.teams.requests).toHaveLength(0);
    expect(svc.gchat.requests).toHaveLength(1);
    expect(svc.twilio.requests).toHaveLength(4);
  });
});

describe('suppression and escalation from the servers\' history', () => {
  const min = (n: number) => new Date(Date.now() + n * 60_000).toISOString();
  const past = (n: number, status: string, o: Partial<PastRun> = {}): PastRun => ({
    id: `2026010112${String(100 + n).slice(-2)}00`,
    action: 'deploy',
    status,
    env: 'production',
    project: 'shop',
    started: min(n),
    duration_ms: 1000,
    error: status === 'success' ? undefined : 'health check "home" failed after 3 attempts: HTTP 500',
    ...o,
  });

  it('an identical failure within `suppress` reaches nobody; the next message says how many were held back', async () => {
    const cfg = setup({ suppress: '30m' });
    // two hosts report the same run: it counts once
    const h1 = [past(-20, 'failed', { run: 'a' }), past(-20, 'failed', { run: 'a' })];
    const held = await sendNotifications(cfg, event(), { history: async () => h1 });
    expect(held.every((r) => r.skipped && /^suppressed: identical failure within 30m/.test(r.reason ?? ''))).toBe(true);
    expect(allRequests()).toHaveLength(0);
    // a different error is not identical
    const other = await sendNotifications(cfg, event({ error: 'upload failed: disk full' }), { history: async () => h1 });
    expect(other.every((r) => r.ok && !r.skipped)).toBe(true);
    for (const s of Object.values(svc)) s.requests.length = 0;
    // later: the held-back one is in history, a success comes
    const h2 = [...h1, past(-10, 'failed', { run: 'b' })];
    await sendNotifications(cfg, event({ level: 'success', status: 'success', error: undefined }), { history: async () => h2 });
    const note = /\(1 identical failure notification held back since .*: health check "home" failed after 3 attempts: HTTP 500\)/;
    expect(svc.teams.requests[0].json.attachments[0].content.body[1].text).toMatch(note);
    expect(svc.gchat.requests[0].json.text).toMatch(note);
    expect(svc.dd.requests[0].json.text).toMatch(note);
    expect(svc.pd.requests.find((r) => r.url === '/v2/change/enqueue')!.json.payload.custom_details.held_back).toMatchObject({ count: 1 });
  });

  it('escalate: the listed channels get failures only from the N-th consecutive failed deploy', async () => {
    const cfg = setup({ escalate: { after: 3, to: ['pagerduty', 'sms'] } });
    const first = await sendNotifications(cfg, event(), { history: async () => [past(-30, 'success')] });
    expect(byChannel(first, 'pagerduty')).toMatchObject({ skipped: true, reason: 'escalation: failure 1 of 3' });
    expect(byChannel(first, 'sms')).toMatchObject({ skipped: true });
    expect(byChannel(first, 'teams').skipped).toBeUndefined();
    const second = await sendNotifications(cfg, event(), { history: async () => [past(-30, 'success'), past(-20, 'rolled_back')] });
    expect(byChannel(second, 'pagerduty').reason).toBe('escalation: failure 2 of 3');
    expect(svc.pd.requests).toHaveLength(0);
    expect(svc.twilio.requests).toHaveLength(0);
    const third = await sendNotifications(cfg, event(), { history: async () => [past(-30, 'success'), past(-20, 'rolled_back'), past(-10, 'failed')] });
    expect(byChannel(third, 'pagerduty')).toMatchObject({ ok: true });
    expect(byChannel(third, 'sms')).toMatchObject({ ok: true });
    expect(svc.pd.requests[0].json.event_action).toBe('trigger');
    expect(svc.twilio.requests).toHaveLength(2);
    // a success is not gated: PagerDuty resolves
    for (const s of Object.values(svc)) s.requests.length = 0;
    await sendNotifications(cfg, event({ level: 'success', status: 'success', error: undefined }), { history: async () => [past(-10, 'failed')] });
    expect(svc.pd.requests[0].json.event_action).toBe('resolve');
  });

  it('unreadable history: a warning, nothing suppressed, escalation channels not held back', async () => {
    const cfg = setup({ suppress: '30m', escalate: { after: 3, to: ['pagerduty'] } });
    const warnings: string[] = [];
    const r = await sendNotifications(cfg, event(), { history: async () => Promise.reject(new Error('web1: connection refused')), onWarning: (w) => warnings.push(w) });
    expect(warnings).toEqual(['notifications: could not read the history for suppress/escalate (web1: connection refused); sending without them']);
    expect(byChannel(r, 'pagerduty').ok).toBe(true);
    // a history that never comes costs at most the notification timeout
    warnings.length = 0;
    const t0 = performance.now();
    const slow = await sendNotifications(setup({ timeout: '300ms', suppress: '30m' }), event(), { history: () => new Promise<never>(() => {}), onWarning: (w) => warnings.push(w) });
    expect(performance.now() - t0).toBeLessThan(300 + 1000);
    expect(warnings).toEqual(['notifications: could not read the history for suppress/escalate (no answer within 300ms); sending without them']);
    expect(slow.every((x) => x.ok)).toBe(true);
  });
});

describe('notify --test and secrets', () => {
  it('notify --test reaches every channel (PagerDuty: a change event only; Jira: cloud id + token, no deployment)', async () => {
    const cfg = setup({ escalate: { after: 3, to: ['pagerduty'] }, suppress: '30m' }, { teams: { envs: ['staging'] }, sms: { on: ['needs_human'] } });
    const results = await runNotifyTest(cfg, { project: 'shop', env: 'production', user: 'ann', hosts: ['web1'] });
    expect(results.map((r) => [r.channel, r.ok, r.skipped ?? false])).toEqual([
      ['teams', true, false],
      ['google_chat', true, false],
      ['pagerduty', true, false],
      ['datadog', true, false],
      ['sms', true, false],
      ['jira', true, false],
    ]);
    expect(svc.pd.requests.map((r) => r.url)).toEqual(['/v2/change/enqueue']);
    expect(svc.jira.requests.map((r) => r.url)).not.toContainEqual(expect.stringMatching(/bulk/));
    expect(svc.twilio.requests[0].form?.Body).toMatch(/^Test notification from ee-deploy for shop \(production\)/);
  });

  it('no secret appears in another service\'s request, in any body, or in a result; each secret only where its service needs it', async () => {
    const cfg = setup();
    svc.dd.routes['/api/v1/events'] = { statuses: [403] };
    // an error text that carries secrets (a hook echoing them) travels in the event
    const results = await sendNotifications(cfg, event({ error: `hook failed: curl -H "DD-API-KEY: ${S.ddKey}" token=${S.twToken} ${S.pdKey}`, warnings: [`saw ${S.jiraSecret}`] }));
    const secrets = [...Object.values(S), ACCESS_TOKEN];
    expect(JSON.stringify(results)).not.toMatch(new RegExp(secrets.join('|')));
    // each request without the one place its own credential belongs
    const drop = (o: Record<string, unknown> | undefined, k: string) => (o ? Object.fromEntries(Object.entries(o).filter(([key]) => key !== k)) : o);
    const rest: Record<string, (r: RecordedRequest) => unknown> = {
      teams: (r) => ({ headers: r.headers, body: r.raw }),
      gchat: (r) => ({ headers: r.headers, body: r.raw }),
      pd: (r) => ({ url: r.url, headers: r.headers, body: drop(r.json, 'routing_key') }),
      dd: (r) => ({ url: r.url, headers: drop(r.headers, 'dd-api-key'), body: r.raw }),
      twilio: (r) => ({ url: r.url, headers: drop(r.headers, 'authorization'), body: r.raw }),
      jira: (r) => ({ url: r.url, headers: drop(r.headers, 'authorization'), body: r.url === '/oauth/token' ? drop(r.json, 'client_secret') : r.raw }),
    };
    let checked = 0;
    for (const [name, s] of Object.entries(svc)) {
      for (const r of s.requests) {
        const text = JSON.stringify(rest[name](r));
        for (const secret of secrets) expect(text, `${name} ${r.url}`).not.toContain(secret);
        checked++;
      }
    }
    // teams, google chat, pagerduty x2, datadog, sms x2, jira (its token and cloud id are cached after the first test)
    expect(checked).toBeGreaterThanOrEqual(8);
    expect(svc.pd.requests[0].json.payload.custom_details.error).toBe('hook failed: curl -H "DD-API-KEY: ***" token=*** ***');
  });
});

describe('ee-deploy notify --test (the CLI)', () => {
  it('lists every new channel as ok, exits 0, and prints no secret', async () => {
    const { makeProject, runCli } = await import('../helpers/cli.js');
    svc.jira.routes['/_edge/tenant_info'] = { body: { cloudId: CLOUD_ID } };
    svc.jira.routes['/oauth/token'] = { body: { access_token: ACCESS_TOKEN, expires_in: 3600 } };
    const env = { TEAMS_SIG: S.teamsSig, GCHAT_TOKEN: S.gchatToken, PD_KEY: S.pdKey, DD_KEY: S.ddKey, TW_TOKEN: S.twToken, JIRA_SECRET: S.jiraSecret };
    const p = makeProject(`project: shop
notifications:
  timeout: 2s
  teams: { webhook_url: "https://x.logic.azure.com/workflows/1/triggers/manual/paths/invoke?sig=\${TEAMS_SIG}", api_url: "${svc.teams.url}" }
  google_chat: { webhook_url: "https://chat.googleapis.com/v1/spaces/A/messages?key=k&token=\${GCHAT_TOKEN}", api_url: "${svc.gchat.url}", envs: [elsewhere] }
  pagerduty: { routing_key: "\${PD_KEY}", api_url: "${svc.pd.url}" }
  datadog: { api_key: "\${DD_KEY}", site: us5.datadoghq.com, api_url: "${svc.dd.url}" }
  sms: { account_sid: ${SID}, auth_token: "\${TW_TOKEN}", from: "+15550000001", to: "+15550000002", api_url: "${svc.twilio.url}" }
  jira: { site: acme.atlassian.net, client_id: cid, client_secret: "\${JIRA_SECRET}", api_url: "${svc.jira.url}" }
  escalate: { after: 2, to: [pagerduty, sms] }
  suppress: 30m
environments:
  production: { hosts: [{ host: local, path: ./target }] }
`);
    const r = await runCli(['notify', '--test'], { cwd: p.dir, env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const c of ['teams', 'google_chat', 'pagerduty', 'datadog', 'sms', 'jira']) expect(r.stdout).toMatch(new RegExp(`^${c}\\s+ok\\s+1\\s`, 'm'));
    for (const s of Object.values(env)) expect(r.stdout + r.stderr).not.toContain(s);
    expect(svc.teams.requests).toHaveLength(1);
    expect(svc.gchat.requests).toHaveLength(1);
    expect(svc.pd.requests.map((x) => x.url)).toEqual(['/v2/change/enqueue']);
    expect(svc.dd.requests[0].headers['dd-api-key']).toBe(S.ddKey);
    expect(svc.twilio.requests).toHaveLength(1);
    expect(svc.jira.requests.map((x) => x.url)).toEqual(['/_edge/tenant_info', '/oauth/token']);
  });
});
