/**
 * `ee-deploy notify --test`: one test message to every configured channel, whatever `on:` says,
 * and a plain-text table of the outcome.
 */
import { formatDuration } from '../config/duration.js';
import { redact } from '../config/secrets.js';
import type { NotificationsConfig } from '../config/schema.js';
import type { ChannelResult, DeployEvent } from './event.js';
import { sendNotifications } from './send.js';

export type TestEventBase = Pick<DeployEvent, 'project' | 'env' | 'user'> & Partial<Omit<DeployEvent, 'action'>>;

export function runNotifyTest(cfg: NotificationsConfig | undefined, baseEvent: TestEventBase, opts: { signal?: AbortSignal } = {}): Promise<ChannelResult[]> {
  const event: DeployEvent = {
    hosts: [],
    level: 'success',
    status: 'test',
    timestamp: new Date().toISOString(),
    ...baseEvent,
    action: 'test',
  };
  return sendNotifications(cfg, event, { ignoreLevelFilter: true, signal: opts.signal });
}

/** channel | result | attempts | time | error, padded columns, no colour. */
export function formatResultsTable(results: ChannelResult[]): string {
  if (!results.length) return 'no notification channels configured';
  const header = ['CHANNEL', 'RESULT', 'ATTEMPTS', 'TIME', 'ERROR'];
  const rows = results.map((r) => [
    r.channel,
    r.skipped ? 'skipped' : r.ok ? 'ok' : 'FAILED',
    String(r.attempts),
    r.skipped ? '-' : formatDuration(r.durationMs),
    r.error ? redact(r.error) : '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
