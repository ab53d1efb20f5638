/**
 * Message templates: `{{project}} {{env}} {{release}} {{commit}} {{host}} {{user}} {{duration}}
 * {{error}} {{url}}` (whitespace inside the braces is allowed). An unknown placeholder is a config
 * error, reported at its YAML path by the schema (see notificationsSchema in config/schema.ts).
 *
 * A value that is not known renders as `-`; `{{host}}` is the failing host, else every host of the
 * deploy; `{{commit}}` is a full git sha shortened to 7 characters; `{{duration}}` is e.g. `12.3s`.
 * The output always passes through `redact()`.
 *
 * This file must stay free of runtime imports from config/schema.ts (schema.ts imports it).
 */
import { formatDuration } from '../config/duration.js';
import { redact } from '../config/secrets.js';
import { suggest } from '../config/suggest.js';
import type { NotifyLevel } from '../config/schema.js';
import type { DeployEvent } from './event.js';

export const PLACEHOLDERS = ['project', 'env', 'release', 'commit', 'host', 'user', 'duration', 'error', 'url'] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];

const PLACEHOLDER_RE = /\{\{\s*([^{}]*?)\s*\}\}/g;

export const DEFAULT_TEMPLATES: Record<NotifyLevel, string> = {
  started: '{{user}} started deploying {{project}} release {{release}} (commit {{commit}}) to {{env}}',
  success: '{{project}} release {{release}} (commit {{commit}}) is live on {{env}}, deployed by {{user}} in {{duration}}',
  failure: '{{project}} deploy to {{env}} by {{user}} failed on {{host}} after {{duration}}: {{error}}',
  rollback: '{{project}} on {{env}} was rolled back to release {{release}} by {{user}}',
  warning: '{{project}} deploy of release {{release}} to {{env}} by {{user}} finished with warnings',
};

/** What `ee-deploy notify --test` sends (user templates are not used for it). */
export const TEST_TEMPLATE = 'Test notification from ee-deploy for {{project}} ({{env}}), sent by {{user}}';

const MISSING = '-';

function shortSha(commit: string): string {
  return /^[0-9a-f]{40}$/i.test(commit) ? commit.slice(0, 7) : commit;
}

export function placeholderValue(name: Placeholder, event: DeployEvent): string {
  const v = ((): string | undefined => {
    switch (name) {
      case 'project':
        return event.project;
      case 'env':
        return event.env;
      case 'release':
        return event.release;
      case 'commit':
        return event.commit ? shortSha(event.commit) : undefined;
      case 'host':
        return event.host ?? (event.hosts.length ? event.hosts.join(', ') : undefined);
      case 'user':
        return event.user;
      case 'duration':
        return event.durationMs !== undefined ? formatDuration(event.durationMs) : undefined;
      case 'error':
        return event.error;
      case 'url':
        return event.url;
    }
  })();
  return v === undefined || v === '' ? MISSING : v;
}

/**
 * Fills the placeholders. An unknown placeholder (which config validation rejects) is left as
 * written. The result is redacted.
 */
export function renderTemplate(template: string, event: DeployEvent): string {
  const out = template.replace(PLACEHOLDER_RE, (whole, name: string) =>
    (PLACEHOLDERS as readonly string[]).includes(name) ? placeholderValue(name as Placeholder, event) : whole,
  );
  return redact(out);
}

/** Names between `{{ }}` that are not placeholders, in order of appearance. */
export function unknownPlaceholders(template: string): string[] {
  const out: string[] = [];
  for (const m of template.matchAll(PLACEHOLDER_RE)) {
    const name = m[1];
    if (!(PLACEHOLDERS as readonly string[]).includes(name) && !out.includes(name)) out.push(name);
  }
  return out;
}

/** One line describing what is wrong with a template, or undefined when it is fine. */
export function templateProblem(template: string): string | undefined {
  const unknown = unknownPlaceholders(template);
  if (!unknown.length) return undefined;
  const name = unknown[0];
  const lower = name.toLowerCase();
  const hint = suggest(name, [...PLACEHOLDERS]) ?? (lower ? PLACEHOLDERS.find((p) => lower.startsWith(p) || p.startsWith(lower)) : undefined);
  return (
    `unknown placeholder {{${name}}}` +
    (hint ? ` (did you mean {{${hint}}}?)` : '') +
    `; known: ${PLACEHOLDERS.map((p) => `{{${p}}}`).join(' ')}`
  );
}

export interface TemplateIssue {
  /** YAML path, e.g. ['notifications', 'templates', 'failure'] */
  path: (string | number)[];
  message: string;
}

/** The parts of the notifications config that hold templates (raw or parsed both fit). */
export interface TemplatedConfig {
  templates?: Partial<Record<string, string | undefined>>;
  webhooks?: ReadonlyArray<{ template?: string }>;
  email?: { subject?: string };
}

/** Every template problem in a notifications config, with its YAML path. */
export function validateTemplates(cfg: TemplatedConfig | undefined): TemplateIssue[] {
  const issues: TemplateIssue[] = [];
  if (!cfg) return issues;
  const check = (template: unknown, path: (string | number)[]) => {
    if (typeof template !== 'string') return;
    const message = templateProblem(template);
    if (message) issues.push({ path: ['notifications', ...path], message });
  };
  for (const [level, t] of Object.entries(cfg.templates ?? {})) check(t, ['templates', level]);
  cfg.webhooks?.forEach((w, i) => check(w?.template, ['webhooks', i, 'template']));
  check(cfg.email?.subject, ['email', 'subject']);
  return issues;
}

/** The template for an event: the given override (a webhook's own), the configured one, or the default. */
export function templateFor(event: DeployEvent, templates: Partial<Record<NotifyLevel, string>> | undefined, override?: string): string {
  if (event.action === 'test') return TEST_TEMPLATE;
  return override ?? templates?.[event.level] ?? DEFAULT_TEMPLATES[event.level];
}
