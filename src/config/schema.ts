/**
 * The ee-deploy.yaml schema (README: Config reference). Strict objects: unknown keys are errors.
 * Durations are parsed to milliseconds here so the rest of the code never sees strings.
 */
import { z } from 'zod';
import { parseDuration } from './duration.js';
import { checkTraffic, trafficSchemas } from './traffic-schema.js';
import { DEFAULT_ON, NOTIFY_LEVELS, ROUTE_LEVELS, validateTemplates, type NotifyLevel } from './notify-vocabulary.js';
import { suggest } from './suggest.js';
import { excludePatternProblem } from '../release/exclude.js';
import { isRecipient } from '../secrets/age.js';
import { parseWindow } from '../policy/window.js';

export const PROJECT_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === undefined) {
    const shown = JSON.stringify(v);
    ctx.addIssue({ code: 'custom', message: `invalid duration ${shown.length > 40 ? `${shown.slice(0, 37)}...` : shown} (use e.g. 500ms, 5s, 2m; at most 596h)` });
    return z.NEVER;
  }
  return ms;
});

/** a `source.exclude` pattern (release/exclude.ts): one that can never match is a mistake */
const excludePattern = z
  .string()
  .min(1)
  .superRefine((p, ctx) => {
    const why = excludePatternProblem(p);
    if (why) ctx.addIssue({ code: 'custom', message: why });
  });

const commandList = z.array(z.string().min(1, 'empty command')).default([]);

/** a relative path inside the release / shared dir: no absolute paths, no `..` */
const relPath = z.string().min(1).refine((p) => !p.startsWith('/') && !p.split('/').includes('..') && !/[\0\n\r]/.test(p), {
  message: 'must be a relative path without ".." or newlines',
});

const remotePath = z.string().min(1).refine((p) => !/[\0\n\r]/.test(p) && !p.split('/').includes('..'), {
  message: 'must not contain ".." segments or newlines',
});

const hostName = z.string().min(1).regex(/^[A-Za-z0-9_.:%@\[\]-]+$/, 'must be a host name, address or ~/.ssh/config alias (no spaces or shell characters)');
const userName = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/, 'must be a plain user name');

const backoff = z
  .object({
    initial: duration.default(1000),
    factor: z.number().min(1).default(2),
    max: duration.default(30_000),
    jitter: z.boolean().default(false),
  })
  .strict();

export const healthDefaultsSchema = z
  .object({
    timeout: duration.default(5000),
    retries: z.number().int().min(1).max(100).default(3),
    backoff: backoff.default({ initial: 1000, factor: 2, max: 30_000, jitter: false }),
  })
  .strict();

export const healthCheckSchema = z
  .object({
    name: z.string().min(1),
    http: z.string().url().optional(),
    script: z.string().min(1).optional(),
    phase: z.enum(['pre', 'post']).default('post'),
    expect: z
      .object({
        status: z.union([z.number().int().min(100).max(599), z.array(z.number().int().min(100).max(599))]).optional(),
        body_contains: z.string().optional(),
      })
      .strict()
      .optional(),
    method: z.enum(['GET', 'HEAD', 'POST']).optional(),
    headers: z.record(z.string(), z.string()).optional(),
    insecure: z.boolean().optional(),
    timeout: duration.optional(),
    retries: z.number().int().min(1).max(100).optional(),
    // no defaults here: unset fields fall back to health_defaults.backoff
    backoff: z.object({ initial: duration.optional(), factor: z.number().min(1).optional(), max: duration.optional(), jitter: z.boolean().optional() }).strict().optional(),
  })
  .strict()
  .refine((c) => (c.http ? 1 : 0) + (c.script ? 1 : 0) === 1, { message: 'a health check needs exactly one of `http` or `script`' });

/** an `on:` list (config/notify-vocabulary.ts: `failure` includes needs_human) */
const levels = z.array(z.enum(ROUTE_LEVELS));
/** `templates:` has one optional key per level */
const templatesShape = Object.fromEntries(NOTIFY_LEVELS.map((l) => [l, z.string()])) as Record<NotifyLevel, z.ZodString>;

const envName = z.string().regex(/^[A-Za-z0-9_.-]+$/, 'environment names are letters, digits, _ . -');
/** every channel: which levels (`on:`, else the global list) and which environments (`envs:`, else all) */
const channelBase = { on: levels.optional(), envs: z.array(envName).min(1).optional() };
/** replaces the service's scheme, host and port (tests, proxies); the API path is appended unchanged */
const apiUrl = z
  .string()
  .url()
  .refine((u) => /^https?:\/\//i.test(u), { message: 'api_url must be an http(s) URL' });

/** The channel names `escalate.to` accepts (`webhook:<name>` names one webhook, `webhooks` all of them). */
export const CHANNEL_KEYS = ['slack', 'discord', 'email', 'telegram', 'teams', 'google_chat', 'pagerduty', 'datadog', 'sms', 'jira'] as const;

function escalateTargetProblem(n: { webhooks?: { name?: string }[] } & Partial<Record<(typeof CHANNEL_KEYS)[number], unknown>>, name: string): string | undefined {
  if ((CHANNEL_KEYS as readonly string[]).includes(name)) {
    return n[name as (typeof CHANNEL_KEYS)[number]] ? undefined : `escalate.to names ${name}, which is not configured`;
  }
  if (name === 'webhooks') return n.webhooks?.length ? undefined : 'escalate.to names webhooks, but none is configured';
  if (name.startsWith('webhook:')) {
    const names = (n.webhooks ?? []).map((w) => w.name).filter((x): x is string => !!x);
    return names.includes(name.slice(8)) ? undefined : `escalate.to names ${name}, but no webhook has \`name: ${name.slice(8)}\``;
  }
  const hint = suggest(name, [...CHANNEL_KEYS, 'webhooks']);
  return `unknown channel "${name}" in escalate.to${hint ? ` (did you mean ${hint}?)` : ''}; channels: ${CHANNEL_KEYS.join(', ')}, webhooks, webhook:<name>`;
}

export const notificationsSchema = z
  .object({
    on: levels.default(() => [...DEFAULT_ON]),
    timeout: duration.default(5000),
    slack: z.object({ webhook_url: z.string().url(), ...channelBase }).strict().optional(),
    discord: z.object({ webhook_url: z.string().url(), ...channelBase }).strict().optional(),
    email: z
      .object({
        host: z.string().min(1),
        port: z.number().int().min(1).max(65535).default(587),
        secure: z.boolean().default(false),
        user: z.string().optional(),
        pass: z.string().optional(),
        from: z.string().min(3),
        to: z.union([z.string(), z.array(z.string()).min(1)]).transform((v) => (Array.isArray(v) ? v : [v])),
        subject: z.string().optional(),
        insecure: z.boolean().optional(),
        ...channelBase,
      })
      .strict()
      .optional(),
    telegram: z
      .object({
        bot_token: z.string().min(1),
        chat_id: z.union([z.string(), z.number()]).transform(String),
        api_url: z.string().url().default('https://api.telegram.org'),
        ...channelBase,
      })
      .strict()
      .optional(),
    teams: z.object({ webhook_url: z.string().url(), api_url: apiUrl.optional(), ...channelBase }).strict().optional(),
    google_chat: z.object({ webhook_url: z.string().url(), api_url: apiUrl.optional(), ...channelBase }).strict().optional(),
    pagerduty: z
      .object({ routing_key: z.string().min(1), api_url: apiUrl.default('https://events.pagerduty.com'), ...channelBase })
      .strict()
      .optional(),
    datadog: z
      .object({
        api_key: z.string().min(1),
        // the Datadog site as its docs name it: datadoghq.com, datadoghq.eu, us3.datadoghq.com, ...
        site: z.string().regex(/^[a-z0-9.-]+\.[a-z]{2,}$/i, 'site must be a Datadog site such as datadoghq.com or datadoghq.eu').default('datadoghq.com'),
        tags: z.array(z.string().min(1)).default([]),
        api_url: apiUrl.optional(),
        ...channelBase,
      })
      .strict()
      .optional(),
    sms: z
      .object({
        provider: z.literal('twilio').default('twilio'),
        account_sid: z.string().min(1),
        auth_token: z.string().min(1),
        // a phone number in E.164 form, or a Messaging Service SID (MG...)
        from: z.string().regex(/^(\+[1-9]\d{6,14}|MG[0-9a-fA-F]{32})$/, 'from must be an E.164 number (+15551234567) or a Messaging Service SID (MG...)'),
        to: z
          .union([z.string(), z.array(z.string()).min(1)])
          .transform((v) => (Array.isArray(v) ? v : [v]))
          .pipe(z.array(z.string().regex(/^\+[1-9]\d{6,14}$/, 'each `to` must be an E.164 number such as +15551234567'))),
        api_url: apiUrl.default('https://api.twilio.com'),
        ...channelBase,
      })
      .strict()
      .optional(),
    jira: z
      .object({
        site: z.string().regex(/^[A-Za-z0-9.-]+$/, 'site is the Jira Cloud host name, e.g. acme.atlassian.net'),
        client_id: z.string().min(1),
        client_secret: z.string().min(1),
        // found from https://<site>/_edge/tenant_info when not given
        cloud_id: z.string().regex(/^[A-Za-z0-9-]+$/).optional(),
        environment_type: z.enum(['production', 'staging', 'testing', 'development', 'unmapped']).optional(),
        url: z.string().url().optional(),
        api_url: apiUrl.optional(),
        ...channelBase,
      })
      .strict()
      .optional(),
    suppress: duration.optional(),
    escalate: z.object({ after: z.number().int().min(1).max(1000), to: z.array(z.string().min(1)).min(1) }).strict().optional(),
    webhooks: z
      .array(
        z
          .object({
            url: z.string().url(),
            name: z.string().optional(),
            method: z.enum(['POST', 'PUT']).default('POST'),
            headers: z.record(z.string(), z.string()).optional(),
            template: z.string().optional(),
            secret: z.string().optional(),
            signature_header: z.string().default('X-Ee-Deploy-Signature'),
            ...channelBase,
          })
          .strict(),
      )
      .default([]),
    templates: z.object(templatesShape).partial().strict().default({}),
  })
  .strict()
  // unknown {{placeholders}} in templates / webhook templates / email.subject, reported at their path
  .superRefine((n, ctx) => {
    for (const issue of validateTemplates(n)) ctx.addIssue({ code: 'custom', path: issue.path.slice(1), message: issue.message });
    n.escalate?.to.forEach((name, i) => {
      const why = escalateTargetProblem(n, name);
      if (why) ctx.addIssue({ code: 'custom', path: ['escalate', 'to', i], message: why });
    });
  });

/** `secrets: { recipients: [age1...] }` (top level, or an environment's own) */
const secretsSchema = z
  .object({ recipients: z.array(z.string().refine(isRecipient, { message: 'must be an age X25519 recipient (age1... as age-keygen prints it)' })).min(1, 'needs at least one recipient') })
  .strict();

/** `env_file: { path: .env, from: [NAME...] }`: secrets rendered into <path>/shared/<path> */
const envFileSchema = z
  .object({
    path: relPath,
    from: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a secret name')).min(1, 'needs at least one secret name'),
  })
  .strict();

/** a date (`2026-12-20`, the whole day) or an ISO date-time */
const dateText = z.union([z.string(), z.date()]).transform((v, ctx) => {
  const s = v instanceof Date ? v.toISOString().slice(0, 10) : v;
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2})?(\.\d+)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(s) || Number.isNaN(Date.parse(s.length === 10 ? `${s}T00:00:00Z` : s))) {
    ctx.addIssue({ code: 'custom', message: `invalid date ${JSON.stringify(s).slice(0, 40)} (use 2026-12-20 or 2026-12-20T18:00:00+01:00)` });
    return z.NEVER;
  }
  return s;
});

const windowText = z.string().superRefine((w, ctx) => {
  try {
    parseWindow(w);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
  }
});

/** deploy policy; an environment's `policy` overrides the top-level one key by key */
export const policySchema = z
  .object({
    windows: z.array(windowText).optional(),
    freeze: z.array(z.object({ from: dateText, to: dateText, reason: z.string().optional(), timezone: z.string().optional() }).strict()).optional(),
    approvals: z.number().int().min(0).max(10).optional(),
    approval_ttl: duration.optional(),
    require_signed_commits: z.boolean().optional(),
    deployers: z.array(z.string().min(1)).optional(),
  })
  .strict();

/** release archive compression: auto = by the measured link (deploy/compression.ts) */
const compressMode = z.enum(['auto', 'on', 'off']);
/** which SSH client connects: ee-deploy's own (ssh2) or the system `ssh` binary */
const sshClient = z.enum(['builtin', 'openssh']);

export const hostSchema = z
  .object({
    host: hostName,
    user: userName.optional(),
    port: z.number().int().min(1).max(65535).optional(),
    path: remotePath.optional(),
    roles: z.array(z.string().min(1)).default([]),
    tags: z.array(z.string().min(1)).default([]),
    jump: z.string().min(1).optional(),
    identity_file: z.string().optional(),
    compress: compressMode.optional(),
    ssh_client: sshClient.optional(),
  })
  .strict();

const traffic = trafficSchemas({ duration, hostName, userName });

const batch = z.union([z.number().int().min(1), z.string().regex(/^\d{1,3}%$/, 'batch must be a number or a percentage like 25%')]);

export const environmentSchema = z
  .object({
    strategy: z.enum(['parallel', 'rolling', 'canary', 'blue_green']).default('parallel'),
    batch: batch.optional(),
    pause: duration.optional(),
    canary: z.object({ hosts: z.number().int().min(1).default(1), wait: duration.default(0) }).strict().optional(),
    max_parallel: z.number().int().min(1).max(256).default(10),
    compress: compressMode.default('auto'),
    load_balancer: traffic.loadBalancer.optional(),
    blue_green: traffic.blueGreen.optional(),
    user: userName.optional(),
    port: z.number().int().min(1).max(65535).optional(),
    path: remotePath.optional(),
    ssh_client: sshClient.optional(),
    hosts: z.array(hostSchema).min(1, 'an environment needs at least one host'),
    secrets: secretsSchema.optional(),
    env_file: envFileSchema.optional(),
    policy: policySchema.optional(),
  })
  .strict()
  .superRefine(checkTraffic);

export const configSchema = z
  .object({
    project: z.string().regex(PROJECT_NAME, 'project must match [a-z0-9][a-z0-9._-]{0,62}'),
    source: z
      .object({
        dir: z.string().min(1).default('.'),
        exclude: z.array(excludePattern).default(['.git', 'node_modules']),
        build: z.string().min(1).optional(),
        // how a release gets the files unchanged since the last upload: its own copy (reflinks
        // where the server's file system has them), hard links shared with other releases (opt-in:
        // a write in place into one release changes the others), or none (a full upload each time)
        reuse: z.enum(['copy', 'hardlink', 'none']).optional(),
        // older spelling: true = reuse: hardlink, false = reuse: copy
        hard_links: z.boolean().optional(),
      })
      .strict()
      .refine((s) => s.reuse === undefined || s.hard_links === undefined, { message: 'source: set reuse or hard_links (its older spelling), not both' })
      .default({ dir: '.', exclude: ['.git', 'node_modules'] }),
    keep_releases: z.number().int().min(1, 'keep_releases must be >= 1').max(1000).default(5),
    lock_stale_after: duration.default(3_600_000),
    shared: z
      .object({ dirs: z.array(relPath).default([]), files: z.array(relPath).default([]) })
      .strict()
      .default({ dirs: [], files: [] }),
    hooks: z
      .object({
        before_upload: commandList,
        before_switch: commandList,
        after_switch: commandList,
        after_rollback: commandList,
      })
      .strict()
      .default({ before_upload: [], before_switch: [], after_switch: [], after_rollback: [] }),
    // per hook command: a hook still running after this is ended (the deploy fails, exit 1)
    hooks_timeout: duration.default(600_000),
    health_checks: z.array(healthCheckSchema).default([]),
    health_defaults: healthDefaultsSchema.default({ timeout: 5000, retries: 3, backoff: { initial: 1000, factor: 2, max: 30_000, jitter: false } }),
    notifications: notificationsSchema.optional(),
    // after every deploy and rollback: the metrics PUT to a Pushgateway and/or written on every host
    metrics: z
      .object({
        pushgateway: z.string().regex(/^https?:\/\/[^\s/]+/, 'pushgateway must be an http(s) URL').optional(),
        textfile: remotePath.optional(),
      })
      .strict()
      .optional(),
    // once per deploy, on one host, in the new release, after every host is prepared, before any switch
    migrate: z
      .object({
        command: z.string().min(1, 'empty command'),
        host: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    // before migrate, into <path>/backups/<id>/ ({dir}, {id}); `rollback --restore-backup` runs `restore`
    backup: z
      .object({
        command: z.string().min(1, 'empty command'),
        restore: z.string().min(1, 'empty command').optional(),
      })
      .strict()
      .optional(),
    // `ee-deploy webhook`: the shared secret GitHub signs with / GitLab sends as its token
    webhook: z
      .object({
        secret: z.string().min(16, 'webhook.secret must be at least 16 characters (e.g. `openssl rand -hex 32`)'),
        branch: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    secrets: secretsSchema.optional(),
    env_file: envFileSchema.optional(),
    policy: policySchema.optional(),
    audit: z.object({ allowed_signers: z.string().min(1).optional() }).strict().optional(),
    environments: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'environment names are letters, digits, _ . -'), environmentSchema).refine((e) => Object.keys(e).length > 0, {
      message: 'at least one environment is required',
    }),
  })
  .strict();

export type RawConfig = z.infer<typeof configSchema>;
export type HealthCheck = z.infer<typeof healthCheckSchema>;
export type HealthDefaults = z.infer<typeof healthDefaultsSchema>;
export type NotificationsConfig = z.infer<typeof notificationsSchema>;
export type EnvironmentConfig = z.infer<typeof environmentSchema>;
export type HostConfig = z.infer<typeof hostSchema>;
export type PolicyConfig = z.infer<typeof policySchema>;
export type EnvFileConfig = z.infer<typeof envFileSchema>;
