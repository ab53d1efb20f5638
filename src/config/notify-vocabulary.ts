/**
 * The words a `notifications:` config may use, defined once: the event levels, the levels an
 * `on:` list accepts, and the `{{placeholders}}` of message templates with their validation.
 * The schema validates against these; src/notify/ renders with them (notify depends on config,
 * never the other way round).
 */
import { suggest } from './suggest.js';

/** what a notification reports */
export const NOTIFY_LEVELS = ['started', 'success', 'failure', 'rollback', 'warning'] as const;
export type NotifyLevel = (typeof NOTIFY_LEVELS)[number];

/**
 * What `on:` lists accept: the levels, plus `needs_human` (a failure whose automatic rollback
 * failed too). `failure` in a list includes needs_human; `needs_human` alone selects only those.
 */
export const ROUTE_LEVELS = [...NOTIFY_LEVELS, 'needs_human'] as const;
export type RouteLevel = (typeof ROUTE_LEVELS)[number];

/** what a channel is sent when neither it nor `notifications.on` says */
export const DEFAULT_ON: readonly RouteLevel[] = ['success', 'failure', 'rollback'];

/**
 * Template placeholders: `{{project}} {{env}} {{release}} {{commit}} {{host}} {{user}}
 * {{duration}} {{error}} {{url}}` (whitespace inside the braces is allowed). An unknown one is a
 * config error, reported at its YAML path (validateTemplates, called by the schema).
 */
export const PLACEHOLDERS = ['project', 'env', 'release', 'commit', 'host', 'user', 'duration', 'error', 'url'] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];

export const PLACEHOLDER_RE = /\{\{\s*([^{}]*?)\s*\}\}/g;

export function isPlaceholder(name: string): name is Placeholder {
  return (PLACEHOLDERS as readonly string[]).includes(name);
}

/** Names between `{{ }}` that are not placeholders, in order of appearance. */
export function unknownPlaceholders(template: string): string[] {
  const out: string[] = [];
  for (const m of template.matchAll(PLACEHOLDER_RE)) {
    const name = m[1];
    if (!isPlaceholder(name) && !out.includes(name)) out.push(name);
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
