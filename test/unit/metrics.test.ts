import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { computeMetrics, failureRateBand, frequencyBand, leadTimeBand, quantile, restoreBand } from '../../src/metrics/compute.js';
import { toPrometheus } from '../../src/metrics/prometheus.js';
import { mergeRuns, parseHistoryText } from '../../src/metrics/runs.js';
import { metricsWindow } from '../../src/metrics/window.js';

const line = (o: Record<string, unknown>) => JSON.stringify({ user: 'alice', machine: 'laptop', env: 'production', project: 'shop', ...o });
const window = { since: Date.parse('2026-11-01T00:00:00Z'), until: Date.parse('2026-11-11T00:00:00Z') };

/**
 * A seeded history on two hosts (times in UTC, all in November 2026 unless said):
 * - D0 (Oct 20): success, before the window.
 * - D1 (Nov 1 10:00): success; web1 live 10:01:00 after 120 s, web2 live 10:01:30 after 150 s;
 *   changes c1 08:01 and c2 09:01 -> lead times 7200 s and 3600 s.
 * - D2 (Nov 3 12:00): live 12:01 on both, post checks failed, rolled back automatically; run ends
 *   12:05 -> failed, restored after 240 s.
 * - D3 (Nov 5 09:00): success, live 09:00:40 (web1) / 09:00:50 (web2), 60 s; then
 * - R1 (Nov 5 10:00): manual rollback to D1's release, ends 10:00:20 -> D3 failed, restored after
 *   3580 s (09:00:40 -> 10:00:20); its commit does not count for lead time.
 * - r7 (Nov 9 00:00): failed before the switch (rolled_back, no live_at): not a deployment.
 * - D4 (Nov 8 15:00): success on web1 only, live 15:00:30, 90 s; no `changes`, commit_time
 *   14:00:30 -> lead time 3600 s.
 * - D5 (Nov 10 20:00): needs_human, live 20:01, 200 s; never restored.
 */
function seeded(): { web1: string; web2: string } {
  const d0 = { id: '20261020100000', action: 'deploy', run: 'r0', started: '2026-10-20T10:00:00.000Z', live_at: '2026-10-20T10:00:30.000Z', duration_ms: 60000, status: 'success' };
  const d1 = { id: '20261101100000', action: 'deploy', run: 'r1', started: '2026-11-01T10:00:00.000Z', status: 'success', commit: 'c2', changes: [{ sha: 'c1', time: '2026-11-01T08:01:00Z' }, { sha: 'c2', time: '2026-11-01T09:01:00Z' }] };
  const d2 = { id: '20261103120000', action: 'deploy', run: 'r2', started: '2026-11-03T12:00:00.000Z', live_at: '2026-11-03T12:01:00.000Z', duration_ms: 300000, status: 'rolled_back', changes: [{ sha: 'c9', time: '2026-11-03T11:00:00Z' }] };
  const d3 = { id: '20261105090000', action: 'deploy', run: 'r3', started: '2026-11-05T09:00:00.000Z', duration_ms: 60000, status: 'success', changes: [{ sha: 'c3', time: '2026-11-04T09:00:40Z' }] };
  const r1 = { id: '20261101100000', from: '20261105090000', action: 'rollback', run: 'r4', started: '2026-11-05T10:00:00.000Z', live_at: '2026-11-05T10:00:05.000Z', duration_ms: 20000, status: 'success' };
  const d4 = { id: '20261108150000', action: 'deploy', run: 'r5', started: '2026-11-08T15:00:00.000Z', live_at: '2026-11-08T15:00:30.000Z', duration_ms: 90000, status: 'success', commit: 'c4', commit_time: '2026-11-08T14:00:30Z', steps: { build: 20000, upload: 10000 } };
  const r7 = { id: '20261109000000', action: 'deploy', run: 'r7', started: '2026-11-09T00:00:00.000Z', duration_ms: 30000, status: 'rolled_back', error: 'upload failed' };
  const d5 = { id: '20261110200000', action: 'deploy', run: 'r6', started: '2026-11-10T20:00:00.000Z', live_at: '2026-11-10T20:01:00.000Z', duration_ms: 200000, status: 'needs_human' };
  const web1 = [
    d0,
    { ...d1, live_at: '2026-11-01T10:01:00.000Z', duration_ms: 120000, steps: { build: 10000, upload: 30000, prepare: 20000, switch: 1000, checks: 5000 } },
    d2,
    { ...d3, live_at: '2026-11-05T09:00:40.000Z' },
    r1,
    d4,
    r7,
    d5,
  ];
  const web2 = [
    d0,
    { ...d1, live_at: '2026-11-01T10:01:30.000Z', duration_ms: 150000, steps: { build: 10000, upload: 40000, prepare: 20000, switch: 2000, checks: 5000 } },
    d2,
    { ...d3, live_at: '2026-11-05T09:00:50.000Z' },
    r1,
    r7,
    d5,
  ];
  return { web1: web1.map(line).join('\n') + '\n', web2: web2.map(line).join('\n') + '\n' };
}

function metricsOf(hosts: Record<string, string>, w = window) {
  const runs = mergeRuns(Object.entries(hosts).map(([host, text]) => ({ host, records: parseHistoryText(text).records })));
  return { runs, ...computeMetrics(runs, w) };
}

describe('metrics over a seeded history (values computed by hand above)', () => {
  it('the four keys, durations and rollbacks', () => {
    const { report } = metricsOf(seeded());
    expect(report.window).toEqual({ since: '2026-11-01T00:00:00.000Z', until: '2026-11-11T00:00:00.000Z', days: 10 });
    // D1..D5
    expect(report.deployments).toBe(5);
    // D2 (rolled back), D3 (left by R1), D5 (needs_human)
    expect(report.failed).toBe(3);
    expect(report.deployment_frequency).toEqual({ per_day: 0.5, per_week: 3.5, band: 'high' });
    expect(report.change_failure_rate).toEqual({ value: 0.6, band: 'low' });
    // D1: 7200, 3600; D4: 3600 -> sorted [3600, 3600, 7200]; p90 at rank 1.8 = 3600 + 0.8 * 3600
    expect(report.lead_time.median_s).toBe(3600);
    expect(report.lead_time.p90_s).toBeCloseTo(6480, 6);
    expect(report.lead_time.band).toBe('elite');
    // D2: 240 s, D3: 3580 s; D5 never restored
    expect(report.time_to_restore).toEqual({ median_s: 1910, mean_s: 1910, unrestored: 1, band: 'elite' });
    // D1 150 (web2's end), D2 300, D3 60, D4 90, D5 200 -> [60, 90, 150, 200, 300]; p90 at rank 3.6
    expect(report.duration.p50_s).toBe(150);
    expect(report.duration.p90_s).toBeCloseTo(260, 6);
    expect(report.duration.max_s).toBe(300);
    // D1's steps are the slower host's; D4 has build and upload: medians of [10, 20] and [40, 10]
    expect(report.duration.steps).toEqual({ build: 15, upload: 25, prepare: 20, switch: 2, checks: 5 });
    expect(report.rollbacks).toEqual({ manual: 1, automatic: 1 });
  });

  it('merges one run spread over hosts: one run, both hosts, the first live_at, the latest end', () => {
    const { runs } = metricsOf(seeded());
    const d1 = runs.find((r) => r.key === 'run:r1')!;
    expect(d1.hosts).toEqual(['web1', 'web2']);
    expect(new Date(d1.firstLive!).toISOString()).toBe('2026-11-01T10:01:00.000Z');
    expect(d1.ended - d1.started).toBe(150000);
    expect(runs.filter((r) => r.action === 'deploy')).toHaveLength(7);
  });

  it('whole-history counters and the last success for Prometheus', () => {
    const { detail } = metricsOf(seeded());
    expect(detail.runsTotal).toEqual([
      { action: 'deploy', status: 'needs_human', count: 1 },
      { action: 'deploy', status: 'rolled_back', count: 2 },
      { action: 'deploy', status: 'success', count: 4 },
      { action: 'rollback', status: 'success', count: 1 },
    ]);
    // D4 ended Nov 8 15:01:30
    expect(detail.lastSuccess).toBe(Date.parse('2026-11-08T15:01:30Z'));
  });

  it('later events count only up to --until: D5 alone, then restored by a deploy after the first window', () => {
    const h = seeded();
    const fix = line({ id: '20261111090000', action: 'deploy', run: 'r8', started: '2026-11-11T09:00:00.000Z', live_at: '2026-11-11T09:01:00.000Z', duration_ms: 100000, status: 'success' });
    const hosts = { web1: h.web1 + fix + '\n' };
    expect(metricsOf(hosts).report.time_to_restore.unrestored).toBe(1);
    // D5 went live Nov 10 20:01; r8 ended Nov 11 09:01:40 -> 13 h 0 min 40 s = 46840 s
    const later = metricsOf(hosts, { since: Date.parse('2026-11-10T00:00:00Z'), until: Date.parse('2026-11-12T00:00:00Z') }).report;
    expect(later.deployments).toBe(2);
    expect(later.time_to_restore).toEqual({ median_s: 46840, mean_s: 46840, unrestored: 0, band: 'high' });
  });
});

describe('edge cases', () => {
  it('an empty window: zeros and nulls, no division by zero', () => {
    const { report } = metricsOf({ web1: seeded().web1 }, { since: Date.parse('2025-01-01T00:00:00Z'), until: Date.parse('2025-01-08T00:00:00Z') });
    expect(report).toEqual({
      window: { since: '2025-01-01T00:00:00.000Z', until: '2025-01-08T00:00:00.000Z', days: 7 },
      deployments: 0,
      failed: 0,
      deployment_frequency: { per_day: 0, per_week: 0, band: 'low' },
      change_failure_rate: { value: null, band: null },
      lead_time: { median_s: null, p90_s: null, band: null },
      time_to_restore: { median_s: null, mean_s: null, unrestored: 0, band: null },
      duration: { p50_s: null, p90_s: null, max_s: null, steps: { build: null, upload: null, prepare: null, switch: null, checks: null } },
      rollbacks: { manual: 0, automatic: 0 },
    });
  });

  it('a failure never restored: counted apart, no restore time', () => {
    const text = line({ id: '20261102000000', action: 'deploy', run: 'x', started: '2026-11-02T00:00:00Z', live_at: '2026-11-02T00:01:00Z', duration_ms: 90000, status: 'needs_human' });
    const { report } = metricsOf({ web1: text });
    expect(report.failed).toBe(1);
    expect(report.time_to_restore).toEqual({ median_s: null, mean_s: null, unrestored: 1, band: null });
    expect(report.change_failure_rate).toEqual({ value: 1, band: 'low' });
  });

  it('records without the new fields (older versions): grouped by release and start, live from their start', () => {
    // no run, live_at, project, changes, steps: as written before those fields existed
    const old = (o: Record<string, unknown>) => JSON.stringify({ user: 'bob', machine: 'm', env: 'production', ...o });
    const a = old({ id: '20261102100000', action: 'deploy', status: 'success', started: '2026-11-02T10:00:00.000Z', duration_ms: 40000, commit: 'abc' });
    const b = old({ id: '20261103100000', action: 'deploy', status: 'rolled_back', started: '2026-11-03T10:00:00.000Z', duration_ms: 70000 });
    const c = old({ id: '20261102100000', action: 'rollback', status: 'success', started: '2026-11-04T10:00:00.000Z', duration_ms: 5000, from: '20261103100000' });
    const { report, runs } = metricsOf({ web1: [a, b, c].join('\n'), web2: [a.replace('40000', '45000'), b].join('\n') });
    expect(runs).toHaveLength(3);
    expect(report.deployments).toBe(2);
    expect(report.failed).toBe(1);
    // b rolled back by itself: restored at its end, 70 s after its start
    expect(report.time_to_restore).toEqual({ median_s: 70, mean_s: 70, unrestored: 0, band: 'elite' });
    // no commit times in old records: no lead time at all, rather than a made-up one
    expect(report.lead_time).toEqual({ median_s: null, p90_s: null, band: null });
    // a's slower host: 45 s; b: 70 s
    expect(report.duration.p50_s).toBe(57.5);
    expect(report.rollbacks).toEqual({ manual: 1, automatic: 1 });
  });

  it('a run that never reached live is not a deployment; a promote completes its canary run, not a new deployment', () => {
    const lines = [
      line({ id: '20261102000000', action: 'deploy', run: 'a', started: '2026-11-02T00:00:00Z', duration_ms: 1000, status: 'failed' }),
      line({ id: '20261103000000', action: 'deploy', run: 'b', started: '2026-11-03T00:00:00Z', live_at: '2026-11-03T00:00:10Z', duration_ms: 20000, status: 'canary' }),
      line({ id: '20261103000000', action: 'deploy', run: 'c', started: '2026-11-03T01:00:00Z', live_at: '2026-11-03T01:00:10Z', duration_ms: 20000, status: 'success', promote: true }),
    ];
    const { report } = metricsOf({ web1: lines.join('\n') });
    expect(report.deployments).toBe(1);
    expect(report.failed).toBe(0);
  });
});

describe('tolerant parsing', () => {
  it('skips and counts torn or corrupt lines; ignores actions it does not know', () => {
    const good = line({ id: '20261102000000', action: 'deploy', status: 'success', started: '2026-11-02T00:00:00Z', duration_ms: 1 });
    const text = [good, good.slice(0, 30), 'garbage', '{}', '[1]', JSON.stringify({ id: 'x', action: 'approve', started: '2026-11-02T00:00:00Z' }), '', JSON.stringify({ id: 'y', action: 'deploy', started: 'yesterday' })].join('\n');
    const p = parseHistoryText(text);
    expect(p.records).toHaveLength(1);
    expect(p.corrupt).toBe(5);
  });

  it('drops fields of the wrong type instead of the record', () => {
    const p = parseHistoryText(JSON.stringify({ id: '20261102000000', action: 'deploy', status: 'success', started: '2026-11-02T00:00:00Z', duration_ms: 'slow', live_at: 7, changes: 'many', steps: { build: -1, upload: 5 } }));
    expect(p.records[0]).toMatchObject({ duration_ms: 0, steps: { upload: 5 } });
    expect(p.records[0]).not.toHaveProperty('live_at');
    expect(p.records[0]).not.toHaveProperty('changes');
  });
});

describe('math helpers', () => {
  it('quantile interpolates between closest ranks', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([10], 0.9)).toBe(10);
    expect(quantile([0, 10], 0.9)).toBe(9);
    expect(quantile([1, 2, 3], 1)).toBe(3);
  });
  it('DORA band boundaries', () => {
    expect([1, 1 / 7, 1 / 30, 0.03].map(frequencyBand)).toEqual(['elite', 'high', 'medium', 'low']);
    expect([86399, 86400, 604800, 2592000].map(leadTimeBand)).toEqual(['elite', 'high', 'medium', 'low']);
    expect([0.05, 0.1, 0.15, 0.151].map(failureRateBand)).toEqual(['elite', 'high', 'medium', 'low']);
    expect([3599, 3600, 86400, 604800].map(restoreBand)).toEqual(['elite', 'high', 'medium', 'low']);
  });
  it('window: durations, ISO times, errors', () => {
    const now = Date.parse('2026-11-30T00:00:00Z');
    expect(metricsWindow({}, now)).toEqual({ since: Date.parse('2026-10-31T00:00:00Z'), until: now });
    expect(metricsWindow({ since: '2w', until: '2026-11-15' }, now)).toEqual({ since: Date.parse('2026-11-01T00:00:00Z'), until: Date.parse('2026-11-15T00:00:00Z') });
    expect(() => metricsWindow({ since: 'last week' }, now)).toThrow(/--since: expected a duration/);
    expect(() => metricsWindow({ since: '2026-12-01', until: '2026-11-01' }, now)).toThrow(/must be before/);
  });
});

describe('Prometheus exposition', () => {
  it('promtool check metrics accepts it; summaries carry _sum and _count', () => {
    const { report, detail } = metricsOf(seeded());
    const text = toPrometheus({ project: 'shop', env: 'production', report, detail, releases: [{ host: 'web1', release: '20261110200000', commit: 'c"5\\' }, { host: 'web2', release: '20261110200000' }] });
    expect(text).toContain('ee_deploy_deployments{project="shop",env="production"} 5\n');
    expect(text).toContain('ee_deploy_change_failure_ratio{project="shop",env="production"} 0.6\n');
    expect(text).toContain('# TYPE ee_deploy_lead_time_seconds summary\n');
    expect(text).toContain('ee_deploy_lead_time_seconds{project="shop",env="production",quantile="0.9"} 6480\n');
    expect(text).toContain('ee_deploy_lead_time_seconds_sum{project="shop",env="production"} 14400\n');
    expect(text).toContain('ee_deploy_lead_time_seconds_count{project="shop",env="production"} 3\n');
    expect(text).toContain('ee_deploy_time_to_restore_seconds_sum{project="shop",env="production"} 3820\n');
    expect(text).toContain('ee_deploy_duration_seconds{project="shop",env="production",quantile="1"} 300\n');
    expect(text).toContain(`ee_deploy_last_success_timestamp_seconds{project="shop",env="production"} ${Date.parse('2026-11-08T15:01:30Z') / 1000}\n`);
    expect(text).toContain('ee_deploy_release_info{project="shop",env="production",host="web1",release="20261110200000",commit="c\\"5\\\\"} 1\n');
    expect(text).toContain('ee_deploy_runs_total{project="shop",env="production",action="deploy",status="success"} 4\n');
    const empty = metricsOf({}, window);
    const texts = { full: text, empty: toPrometheus({ project: 'shop', env: 'production', report: empty.report, detail: empty.detail, releases: [] }) };
    expect(texts.empty).toContain('ee_deploy_change_failure_ratio{project="shop",env="production"} NaN\n');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ee-prom-'));
    for (const [name, t] of Object.entries(texts)) {
      writeFileSync(path.join(dir, name), t);
      // exit 0 and no lint findings
      const out = execFileSync('promtool', ['check', 'metrics'], { input: t, encoding: 'utf8' });
      expect(out.trim()).toBe('');
    }
  });
});

describe('Grafana dashboard (templates/grafana/ee-deploy.json)', () => {
  const NAMES = ['ee_deploy_deployments', 'ee_deploy_failed_deployments', 'ee_deploy_deployment_frequency_per_day', 'ee_deploy_change_failure_ratio', 'ee_deploy_lead_time_seconds', 'ee_deploy_time_to_restore_seconds', 'ee_deploy_duration_seconds', 'ee_deploy_last_success_timestamp_seconds', 'ee_deploy_release_info', 'ee_deploy_runs_total'];
  const dash = JSON.parse(readFileSync(path.join(__dirname, '../../templates/grafana/ee-deploy.json'), 'utf8')) as { uid: string; __inputs: unknown[]; panels: { type: string; title: string; targets?: { expr: string }[] }[]; templating: { list: { query: { query: string } }[] } };
  const exprs = [...dash.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)), ...dash.templating.list.map((v) => v.query.query)];

  it('uses only the metric names ee-deploy exposes, and shows the four keys, durations and releases per host', () => {
    const used = new Set(exprs.flatMap((e) => e.match(/ee_deploy_[a-z_]+/g) ?? []).map((n) => (NAMES.includes(n) ? n : n.replace(/_(sum|count)$/, ''))));
    for (const n of used) expect(NAMES).toContain(n);
    for (const n of ['ee_deploy_deployment_frequency_per_day', 'ee_deploy_lead_time_seconds', 'ee_deploy_change_failure_ratio', 'ee_deploy_time_to_restore_seconds', 'ee_deploy_duration_seconds', 'ee_deploy_release_info']) expect(used).toContain(n);
    expect(dash.uid).toBe('ee-deploy');
    expect(dash.__inputs).toHaveLength(1);
  });

  it('every query is valid PromQL (promtool check rules)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ee-grafana-'));
    const file = path.join(dir, 'rules.yml');
    const concrete = (e: string) => e.replace(/\$__range/g, '30d').replace(/\$(project|env)/g, '.*').replace(/^label_values\(([^,]+), \w+\)$/, '$1');
    writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${exprs.map((e, i) => `      - record: dashboard:q${i}\n        expr: ${JSON.stringify(concrete(e))}\n`).join('')}`);
    const out = execFileSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
    expect(out).toContain(`SUCCESS: ${exprs.length} rules found`);
  });
});
