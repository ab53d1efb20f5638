import { afterEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import { configSchema, notificationsSchema } from '../../src/config/schema.js';
import { clearSecrets, registerSecret } from '../../src/config/secrets.js';
import { ConfigError } from '../../src/errors.js';
import { DEFAULT_TEMPLATES, formatResultsTable, NOTIFY_LEVELS, renderTemplate, TEST_TEMPLATE, validateTemplates, type DeployEvent } from '../../src/notify/index.js';

const event: DeployEvent = {
  level: 'failure',
  action: 'deploy',
  project: 'shop',
  env: 'production',
  release: '20261122093000',
  previousRelease: '20261121170000',
  commit: '3f2c1ab9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3',
  hosts: ['web1.example.com', 'web2.example.com'],
  host: 'web2.example.com',
  user: 'alice',
  durationMs: 12_345,
  error: 'health check homepage: HTTP 502',
  url: 'https://shop.example.com/health',
  status: 'failed',
  timestamp: '2026-11-22T09:30:12.000Z',
};

afterEach(() => clearSecrets());

describe('renderTemplate', () => {
  it('fills every placeholder', () => {
    expect(renderTemplate('{{project}}|{{env}}|{{release}}|{{commit}}|{{host}}|{{user}}|{{duration}}|{{error}}|{{url}}', event)).toBe(
      'shop|production|20261122093000|3f2c1ab|web2.example.com|alice|12.3s|health check homepage: HTTP 502|https://shop.example.com/health',
    );
  });

  it('allows spaces inside the braces and repeats', () => {
    expect(renderTemplate('{{ project }}/{{project}} on {{  env}}', event)).toBe('shop/shop on production');
  });

  it('renders unknown values as "-" and {{host}} as all hosts when no host failed', () => {
    const e: DeployEvent = { ...event, host: undefined, release: undefined, commit: undefined, durationMs: undefined, error: undefined, url: undefined };
    expect(renderTemplate('{{release}} {{commit}} {{duration}} {{error}} {{url}} [{{host}}]', e)).toBe('- - - - - [web1.example.com, web2.example.com]');
    expect(renderTemplate('{{host}}', { ...e, hosts: [] })).toBe('-');
  });

  it('keeps a commit that is not a full sha as it is', () => {
    expect(renderTemplate('{{commit}}', { ...event, commit: 'content-0a1b2c' })).toBe('content-0a1b2c');
  });

  it('formats durations', () => {
    expect(renderTemplate('{{duration}}', { ...event, durationMs: 850 })).toBe('850ms');
    expect(renderTemplate('{{duration}}', { ...event, durationMs: 125_000 })).toBe('2m05s');
  });

  it('redacts secrets in values and in the template itself', () => {
    registerSecret('s3cr3t-XYZ');
    const out = renderTemplate('token s3cr3t-XYZ: {{error}}', { ...event, error: 'hook printed s3cr3t-XYZ and died' });
    expect(out).toBe('token ***: hook printed *** and died');
  });

  it('leaves an unknown placeholder as written (validation rejects it earlier)', () => {
    expect(renderTemplate('{{nope}} {{project}}', event)).toBe('{{nope}} shop');
  });

  it('has a default for every level that validates and renders completely', () => {
    for (const level of NOTIFY_LEVELS) {
      const t = DEFAULT_TEMPLATES[level];
      expect(validateTemplates({ templates: { [level]: t } })).toEqual([]);
      const out = renderTemplate(t, { ...event, level });
      expect(out).not.toMatch(/\{\{|\}\}/);
      expect(out).toContain('shop');
    }
    expect(renderTemplate(TEST_TEMPLATE, event)).toBe('Test notification from ee-deploy for shop (production), sent by alice');
    expect(renderTemplate(DEFAULT_TEMPLATES.failure, event)).toBe(
      'shop deploy to production by alice failed on web2.example.com after 12.3s: health check homepage: HTTP 502',
    );
  });
});

describe('template validation', () => {
  it('reports unknown placeholders with their yaml path', () => {
    const issues = validateTemplates({
      templates: { failure: '{{project}} failed on {{hostname}}', success: 'ok {{project}}' },
      webhooks: [{}, { template: '{{foo}} {{env}}' }],
      email: { subject: '{{subject}}' },
    });
    expect(issues.map((i) => i.path)).toEqual([
      ['notifications', 'templates', 'failure'],
      ['notifications', 'webhooks', 1, 'template'],
      ['notifications', 'email', 'subject'],
    ]);
    expect(issues[0].message).toMatch(/^unknown placeholder \{\{hostname\}\} \(did you mean \{\{host\}\}\?\)/);
    expect(issues[0].message).toContain('{{project}}');
    expect(issues[1].message).toMatch(/^unknown placeholder \{\{foo\}\}/);
  });

  it('accepts known placeholders and text without any', () => {
    expect(validateTemplates({ templates: { warning: 'careful' }, webhooks: [{ template: '{{ url }}' }] })).toEqual([]);
    expect(validateTemplates(undefined)).toEqual([]);
  });

  it('is enforced by the schema at the right path', () => {
    const r = notificationsSchema.safeParse({ webhooks: [{ url: 'https://h.example.com/x', template: '{{bogus}}' }] });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0].path).toEqual(['webhooks', 0, 'template']);
    const full = configSchema.safeParse({
      project: 'shop',
      notifications: { templates: { failure: '{{eror}}' } },
      environments: { local: { hosts: [{ host: 'local', path: '/tmp/x' }] } },
    });
    expect(full.success).toBe(false);
    expect(full.error!.issues[0].path).toEqual(['notifications', 'templates', 'failure']);
    expect(full.error!.issues[0].message).toContain('did you mean {{error}}?');
  });

  it('is reported by the config loader as file:line:col', () => {
    const yaml = [
      'project: shop',
      'notifications:',
      '  templates:',
      '    failure: "{{project}} broke: {{eror}}"',
      'environments:',
      '  local:',
      '    hosts: [{ host: local, path: ./.deploy/shop }]',
      '',
    ].join('\n');
    let err: unknown;
    try {
      parseConfigText(yaml, '/x/ee-deploy.yaml', {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(/^\/x\/ee-deploy\.yaml:4:14: notifications\.templates\.failure: unknown placeholder \{\{eror\}\} \(did you mean \{\{error\}\}\?\)/);
  });
});

describe('formatResultsTable', () => {
  it('prints one aligned row per channel', () => {
    registerSecret('s3cr3t-XYZ');
    const table = formatResultsTable([
      { channel: 'slack', ok: true, attempts: 1, durationMs: 120 },
      { channel: 'webhook:hooks.example.com', ok: false, attempts: 3, durationMs: 1650, error: 'HTTP 500 s3cr3t-XYZ' },
      { channel: 'telegram', ok: true, skipped: true, attempts: 0, durationMs: 0 },
    ]);
    expect(table.split('\n')).toEqual([
      'CHANNEL                    RESULT   ATTEMPTS  TIME   ERROR',
      'slack                      ok       1         120ms',
      'webhook:hooks.example.com  FAILED   3         1.65s  HTTP 500 ***',
      'telegram                   skipped  0         -',
    ]);
    expect(formatResultsTable([])).toBe('no notification channels configured');
  });
});
