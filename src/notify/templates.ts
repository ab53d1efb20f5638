/**
 * Message templates, rendered. The placeholders and their validation are config vocabulary
 * (config/notify-vocabulary.ts).
 *
 * A value that is not known renders as `-`; `{{host}}` is the failing host, else every host of the
 * deploy; `{{commit}}` is a full git sha shortened to 7 characters; `{{duration}}` is e.g. `12.3s`.
 * The output always passes through `redact()`.
 */
import { formatDuration } from '../config/duration.js';
import { redact } from '../config/secrets.js';
import { isPlaceholder, PLACEHOLDER_RE, type NotifyLevel, type Placeholder } from '../config/notify-vocabulary.js';
import type { DeployEvent } from './event.js';

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
    isPlaceholder(name) ? placeholderValue(name, event) : whole,
  );
  return redact(out);
}

/** The template for an event: the given override (a webhook's own), the configured one, or the default. */
export function templateFor(event: DeployEvent, templates: Partial<Record<NotifyLevel, string>> | undefined, override?: string): string {
  if (event.action === 'test') return TEST_TEMPLATE;
  return override ?? templates?.[event.level] ?? DEFAULT_TEMPLATES[event.level];
}
