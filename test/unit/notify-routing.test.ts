/** Routing, suppression and escalation decisions, and the pure parts of the new channels. */
import { describe, expect, it } from 'vitest';
import { decide, failureStreak, heldBackNote, levelSelected, routeProblem, runsOf, type PastRun } from '../../src/notify/routing.js';
import type { DeployEvent } from '../../src/notify/event.js';
import { issueKeysFrom, jiraDeployment, jiraEnvironmentType, jiraState } from '../../src/notify/channels/jira.js';
import { datadogApiBase } from '../../src/notify/channels/datadog.js';
import { pagerdutyRequests } from '../../src/notify/channels/pagerduty.js';
import { smsText, SMS_MAX } from '../../src/notify/channels/sms.js';
import { googleChatThreadKey } from '../../src/notify/channels/google-chat.js';
import { serviceUrl, rebaseUrl } from '../../src/notify/http.js';
import { notificationsSchema } from '../../src/config/schema.js';

const T0 = Date.parse('2026-01-01T12:00:00Z');
const iso = (min: number) => new Date(T0 + min * 60_000).toISOString();

function ev(o: Partial<DeployEvent> = {}): DeployEvent {
  return { level: 'failure', action: 'deploy', project: 'shop', env: 'production', hosts: ['web1'], user: 'ann', status: 'failed', timestamp: iso(0), error: 'health check "home" failed: HTTP 500\nmore', ...o };
}
let seq = 0;
function rec(min: number, status: string, o: Partial<PastRun> = {}): PastRun {
  return { id: `2026010112${String(seq++).padStart(4, '0')}`, action: 'deploy', status, env: 'production', project: 'shop', started: iso(min), duration_ms: 0, error: status === 'success' ? undefined : 'health check "home" failed: HTTP 500', ...o };
}

describe('routing', () => {
  it('on: selects levels; failure includes needs_human; needs_human alone only those', () => {
    expect(levelSelected(['failure'], { level: 'failure', status: 'needs_human' })).toBe(true);
    expect(levelSelected(['needs_human'], { level: 'failure', status: 'needs_human' })).toBe(true);
    expect(levelSelected(['needs_human'], { level: 'failure', status: 'failed' })).toBe(false);
    expect(levelSelected(['success'], { level: 'rollback', status: 'rolled_back' })).toBe(false);
  });
  it('envs: limits a channel to environments; default on applies when the channel has none', () => {
    expect(routeProblem({ envs: ['production'] }, ['failure'], { level: 'failure', status: 'failed', env: 'staging' })).toBe('env');
    expect(routeProblem({ envs: ['production'] }, ['failure'], { level: 'failure', status: 'failed', env: 'production' })).toBeUndefined();
    expect(routeProblem({}, ['failure'], { level: 'success', status: 'success', env: 'production' })).toBe('level');
    expect(routeProblem({ on: ['success'] }, ['failure'], { level: 'success', status: 'success', env: 'production' })).toBeUndefined();
  });
});

describe('history merge', () => {
  it('one record per run across hosts, other environments and projects left out, the current run excluded', () => {
    const a = rec(-30, 'failed', { run: 'r1' });
    const runs = runsOf([a, { ...a }, rec(-20, 'failed', { env: 'staging' }), rec(-10, 'failed', { project: 'other' }), rec(-5, 'failed', { run: 'cur' })], { project: 'shop', env: 'production', run: 'cur' });
    expect(runs).toEqual([a]);
  });
});

describe('escalation streak', () => {
  it('counts consecutive failed deploys including this one; a success ends it; interrupted runs and rollbacks do not break it', () => {
    const h = [rec(-50, 'success'), rec(-40, 'failed'), rec(-30, 'interrupted'), rec(-25, 'success', { action: 'rollback' }), rec(-20, 'rolled_back'), rec(-10, 'needs_human')];
    expect(failureStreak(runsOf(h, ev()), ev())).toBe(4);
    expect(failureStreak(runsOf(h, ev()), ev({ level: 'success', status: 'success' }))).toBe(0);
    expect(failureStreak([], ev())).toBe(1);
    expect(decide(ev(), h, {}).streak).toBe(4);
  });
});

describe('suppression', () => {
  const W = 30 * 60_000;
  it('an identical failure within the window is held back; a different first line is not', () => {
    const h = [rec(-10, 'failed')];
    expect(decide(ev(), h, { suppressMs: W }).suppressed).toBe(true);
    expect(decide(ev({ error: 'upload failed' }), h, { suppressMs: W }).suppressed).toBe(false);
    expect(decide(ev(), [rec(-31, 'failed')], { suppressMs: W }).suppressed).toBe(false);
    expect(decide(ev(), h, {}).suppressed).toBe(false);
  });
  it('the window counts from the last failure that was sent, and the next message carries the held-back count', () => {
    // -40 sent, -30 and -20 held back (within 30m of -40), -5 sent again (35m after -40)
    const h = [rec(-40, 'failed'), rec(-30, 'failed'), rec(-20, 'failed')];
    const d = decide(ev(), h, { suppressMs: W });
    expect(d.suppressed).toBe(false);
    expect(d.heldBack).toEqual({ count: 2, error: 'health check "home" failed: HTTP 500', since: iso(-40) });
    expect(heldBackNote(d.heldBack!)).toBe(`(2 identical failure notifications held back since ${iso(-40)}: health check "home" failed: HTTP 500)`);
    // a success after them is "the next message": it carries the count
    const s = decide(ev({ level: 'success', status: 'success', error: undefined, timestamp: iso(-25) }), [rec(-40, 'failed'), rec(-30, 'failed')], { suppressMs: W });
    expect(s.heldBack?.count).toBe(1);
    // once a message went out, the count starts again
    expect(decide(ev({ level: 'success', status: 'success', error: undefined }), [...h, rec(-5, 'success')], { suppressMs: W }).heldBack).toBeUndefined();
  });
  it('a past message no channel received does not reset the count', () => {
    const h = [rec(-40, 'failed'), rec(-30, 'failed'), rec(-20, 'success')];
    expect(decide(ev({ level: 'success', status: 'success', error: undefined }), h, { suppressMs: W, wasSent: (l) => l !== 'success' }).heldBack?.count).toBe(1);
  });
});

describe('channel payload parts', () => {
  it('PagerDuty: trigger + change on failure, resolve + change on success, nothing on started, change only on a test', () => {
    const cfg = { routing_key: 'R'.repeat(32), api_url: 'https://events.pagerduty.com' };
    expect(pagerdutyRequests(cfg, ev(), 'm').map((r) => r.kind)).toEqual(['trigger', 'change']);
    expect(pagerdutyRequests(cfg, ev(), 'm')[0].body).toMatchObject({ event_action: 'trigger', dedup_key: 'shop/production', payload: { severity: 'error', component: 'shop', group: 'production' } });
    expect(pagerdutyRequests(cfg, ev({ status: 'needs_human' }), 'm')[0].body).toMatchObject({ payload: { severity: 'critical' } });
    expect(pagerdutyRequests(cfg, ev({ level: 'rollback', status: 'rolled_back' }), 'm').map((r) => r.kind)).toEqual(['trigger', 'change']);
    expect(pagerdutyRequests(cfg, ev({ level: 'success', status: 'success' }), 'm').map((r) => r.kind)).toEqual(['resolve', 'change']);
    expect(pagerdutyRequests(cfg, ev({ level: 'rollback', action: 'rollback', status: 'success' }), 'm').map((r) => r.kind)).toEqual(['resolve', 'change']);
    expect(pagerdutyRequests(cfg, ev({ level: 'started', status: 'started' }), 'm')).toEqual([]);
    expect(pagerdutyRequests(cfg, ev({ action: 'test', status: 'test' }), 'm').map((r) => r.kind)).toEqual(['change']);
  });
  it('Jira: issue keys from commit messages; states; environment types', () => {
    expect(issueKeysFrom([{ sha: 'a', message: 'SHOP-12 fix cart\n\nrefs OPS-7, shop-9, X-1 and SHOP-12' }, { sha: 'b', message: 'AB_C-100: thing (FOO-0)' }])).toEqual(['SHOP-12', 'OPS-7', 'AB_C-100']);
    expect(issueKeysFrom(undefined)).toEqual([]);
    expect(jiraState(ev({ level: 'started', status: 'started' }))).toBe('in_progress');
    expect(jiraState(ev())).toBe('failed');
    expect(jiraState(ev({ level: 'rollback', status: 'rolled_back' }))).toBe('rolled_back');
    expect(jiraState(ev({ status: 'interrupted' }))).toBe('cancelled');
    expect(jiraState(ev({ level: 'success', status: 'success' }))).toBe('successful');
    const cfg = { site: 'acme.atlassian.net', client_id: 'c', client_secret: 's' };
    const dep = (e: DeployEvent) => (jiraDeployment(cfg, e, 'm', 5, {}) as { deployments: Record<string, unknown>[] }).deployments[0];
    expect(dep(ev({ changes: [{ sha: 'a', message: 'SHOP-5 x' }] })).associations).toEqual([{ associationType: 'issueIdOrKeys', values: ['SHOP-5'] }]);
    expect('associations' in dep(ev({ changes: [{ sha: 'a', message: 'no key' }] }))).toBe(false);
    expect(dep(ev({ runStarted: '2026-01-01T12:00:00.000Z' }))).toMatchObject({ deploymentSequenceNumber: Date.parse('2026-01-01T12:00:00.000Z'), updateSequenceNumber: 5, url: 'https://acme.atlassian.net' });
    expect(['production', 'prod-eu', 'staging', 'qa', 'dev', 'edge'].map(jiraEnvironmentType)).toEqual(['production', 'production', 'staging', 'testing', 'development', 'unmapped']);
  });
  it('Datadog site -> API host; api_url replaces scheme/host/port and keeps the documented path', () => {
    expect(datadogApiBase('datadoghq.com')).toBe('https://api.datadoghq.com');
    expect(datadogApiBase('app.datadoghq.eu')).toBe('https://api.datadoghq.eu');
    expect(datadogApiBase('us5.datadoghq.com')).toBe('https://api.us5.datadoghq.com');
    expect(serviceUrl('https://api.datadoghq.com', '/api/v1/events', 'http://127.0.0.1:9/')).toBe('http://127.0.0.1:9/api/v1/events');
    expect(rebaseUrl('https://chat.googleapis.com/v1/spaces/A/messages?key=k&token=t', 'http://127.0.0.1:9')).toBe('http://127.0.0.1:9/v1/spaces/A/messages?key=k&token=t');
  });
  it('SMS text is one short line; Google Chat thread key is per run', () => {
    const t = smsText(ev({ error: 'x'.repeat(1000) }), 'shop deploy failed: ' + 'y'.repeat(1000));
    expect(t.length).toBeLessThanOrEqual(SMS_MAX);
    expect(t).not.toContain('\n');
    expect(googleChatThreadKey(ev({ run: 'r-1' }))).toBe(googleChatThreadKey(ev({ run: 'r-1', level: 'success' })));
    expect(googleChatThreadKey(ev({ run: 'r-1' }))).not.toBe(googleChatThreadKey(ev({ run: 'r-2' })));
  });
});

describe('config', () => {
  const base = { sms: { account_sid: 'AC1', auth_token: 't', from: '+15550000001', to: '+15550000002' }, pagerduty: { routing_key: 'k' } };
  it('accepts the new channels with on/envs, suppress and escalate', () => {
    const n = notificationsSchema.parse({ ...base, suppress: '30m', escalate: { after: 3, to: ['pagerduty', 'sms'] }, teams: { webhook_url: 'https://x.example/w', envs: ['production'], on: ['needs_human'] } });
    expect(n.suppress).toBe(1_800_000);
    expect(n.sms?.to).toEqual(['+15550000002']);
    expect(n.sms?.provider).toBe('twilio');
    expect(n.pagerduty?.api_url).toBe('https://events.pagerduty.com');
    expect(n.datadog).toBeUndefined();
  });
  it('escalate.to must name configured channels', () => {
    const r = notificationsSchema.safeParse({ ...base, escalate: { after: 2, to: ['pagerduty', 'pagerdty', 'slack'] } });
    expect(r.success).toBe(false);
    const msgs = r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(msgs).toContainEqual(expect.stringMatching(/^escalate\.to\.1: unknown channel "pagerdty" in escalate\.to \(did you mean pagerduty\?\)/));
    expect(msgs).toContainEqual('escalate.to.2: escalate.to names slack, which is not configured');
  });
  it('sms numbers must be E.164', () => {
    expect(notificationsSchema.safeParse({ sms: { ...base.sms, to: ['555-1234'] } }).success).toBe(false);
  });
});
