/**
 * `metrics: { pushgateway, textfile }`: after every deploy and rollback the metrics (last 30 days)
 * go to a Prometheus Pushgateway and/or into a node_exporter textfile on every host. Publishing
 * never fails a run: each problem comes back as a warning.
 */
import type { ResolvedConfig } from '../config/resolve.js';
import { redact } from '../config/secrets.js';
import { DeployError, NeedsHumanError } from '../errors.js';
import { textfileScript } from '../remote/steps/insight.js';
import { openTransport } from '../transport/open.js';
import { metricsFrom, prometheusText, snapshotHosts } from './collect.js';
import { forEachLimited } from '../util/concurrency.js';
import { metricsWindow } from './window.js';
import { lastLine } from '../util/text.js';

const PUSH_TIMEOUT_MS = 10_000;

/** `URL/metrics/job/ee_deploy/project/<p>/env/<e>` (grouping key values URL-encoded) */
export function pushUrl(base: string, project: string, env: string): string {
  return `${base.replace(/\/+$/, '')}/metrics/job/ee_deploy/project/${encodeURIComponent(project)}/env/${encodeURIComponent(env)}`;
}

/** PUT replaces the whole group, so metrics of a host that left the environment disappear too. */
export async function pushMetrics(url: string, body: string, timeoutMs = PUSH_TIMEOUT_MS): Promise<void> {
  const res = await fetch(url, { method: 'PUT', body, headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }, signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) {
    const text = (await res.text().catch(() => '')).trim().slice(0, 200);
    throw new Error(`HTTP ${res.status}${text ? `: ${text}` : ''}`);
  }
}

export async function publishMetrics(config: ResolvedConfig, o: { interactive: boolean; now?: number }): Promise<string[]> {
  const m = config.raw.metrics;
  if (!m || (!m.pushgateway && !m.textfile)) return [];
  const warnings: string[] = [];
  const snaps = await snapshotHosts(config, config.hosts, { interactive: o.interactive });
  const result = metricsFrom(config.project, config.envName, snaps, metricsWindow({}, o.now));
  warnings.push(...result.warnings);
  const body = prometheusText(result);
  const jobs: Promise<void>[] = [];
  if (m.pushgateway) {
    const url = pushUrl(m.pushgateway, config.project, config.envName);
    jobs.push(pushMetrics(url, body).catch((e: Error) => void warnings.push(redact(`metrics push to ${m.pushgateway} failed: ${e.message}${e.cause ? ` (${(e.cause as Error).message ?? e.cause})` : ''}`))));
  }
  if (m.textfile) {
    const file = m.textfile;
    jobs.push(
      forEachLimited(config.hosts, config.env.max_parallel, async (h) => {
        // a relative textfile path is relative to the deploy directory
        const target = file.startsWith('/') ? file : `${h.path}/${file}`;
        let t;
        try {
          t = await openTransport(h, { interactive: o.interactive });
          const r = await t.exec(textfileScript(target), { stdin: body });
          if (r.code !== 0) throw new Error(lastLine(r.stderr) || `exit ${r.code}`);
        } catch (e) {
          warnings.push(redact(`${h.id}: could not write the metrics textfile ${target}: ${(e as Error).message}`));
        } finally {
          await t?.close().catch(() => {});
        }
      }),
    );
  }
  await Promise.all(jobs);
  return warnings;
}

/**
 * After a deploy or rollback. `failure`: the error the run ended with. Runs that failed and were
 * rolled back (or need a human) wrote history, so they are published too; runs stopped before
 * touching anything (lock held, connection refused) or interrupted (the user wants out now) are not.
 */
export async function publishAfterRun(config: ResolvedConfig, o: { dryRun?: boolean; interactive: boolean }, failure?: unknown): Promise<string[]> {
  if (o.dryRun || !config.raw.metrics) return [];
  if (failure !== undefined && !(failure instanceof DeployError || failure instanceof NeedsHumanError)) return [];
  return publishMetrics(config, { interactive: o.interactive });
}
