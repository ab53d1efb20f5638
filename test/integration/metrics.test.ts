/**
 * `ee-deploy metrics` over two real OpenSSH servers (table, --json, --prometheus checked by
 * promtool), and `metrics: {pushgateway, textfile}` after deploys and rollbacks, against a real
 * Prometheus Pushgateway.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, current, jsonDoc, newProject, projectYaml, server, type Project, type ProjectSpec } from '../helpers/deploy-env.js';
import { startPushgateway, type Pushgateway } from '../helpers/pushgateway.js';
import { freePort, startSshd, type SshdFixture } from '../helpers/sshd.js';

let f: SshdFixture;
let pg: Pushgateway;
let tmp: string;
let roots: string[];
let p: Project;
let spec: ProjectSpec;
let ids: string[];

const promtool = (text: string) => execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
const withMetrics = (metrics: string) => writeFileSync(p.config, projectYaml(spec) + metrics);

beforeAll(async () => {
  [f, pg] = await Promise.all([startSshd({ servers: [server('web1'), server('web2')] }), startPushgateway()]);
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-metrics-'));
  roots = [path.join(tmp, 'one'), path.join(tmp, 'two')];
  spec = { hosts: [{ host: 'web1', path: roots[0] }, { host: 'web2', path: roots[1] }] };
  p = newProject(spec);
  withMetrics(`metrics:\n  pushgateway: ${JSON.stringify(pg.url)}\n  textfile: prom/ee-deploy.prom\n`);
  ids = [];
  for (const m of ['first', 'second']) {
    const r = await cli(f.home, p.dir, ['deploy', '-m', m]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('warning');
    ids.push(current(roots[0])!);
  }
  const rb = await cli(f.home, p.dir, ['rollback', '--yes']);
  expect(rb.code, rb.stderr).toBe(0);
}, 120_000);

afterAll(async () => {
  await Promise.all([f?.stopAll(), pg?.stop()]);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('publishing after deploy and rollback', () => {
  it('the Pushgateway holds the set pushed after the rollback, under job/project/env', async () => {
    const text = await pg.metrics();
    const g = 'env="production",instance="",job="ee_deploy",project="shop"';
    // two deployments; the second was left by the rollback: failed
    expect(text).toContain(`ee_deploy_deployments{${g}} 2\n`);
    expect(text).toContain(`ee_deploy_failed_deployments{${g}} 1\n`);
    expect(text).toContain(`ee_deploy_change_failure_ratio{${g}} 0.5\n`);
    expect(text).toContain(`ee_deploy_runs_total{action="rollback",${g},status="success"} 1\n`);
    expect(text).toContain(`ee_deploy_runs_total{action="deploy",${g},status="success"} 2\n`);
    for (const h of ['web1', 'web2']) expect(text).toMatch(new RegExp(`ee_deploy_release_info\\{commit="[^"]*",env="production",host="${h}",instance="",job="ee_deploy",project="shop",release="${ids[0]}"\\} 1\\n`));
    expect(text).toMatch(/ee_deploy_duration_seconds_count\{[^}]*\} 2\n/);
  });

  it('the textfile is on every host (directory created), complete, accepted by promtool, no temp file left', () => {
    for (const root of roots) {
      const dir = path.join(root, 'prom');
      expect(readdirSync(dir)).toEqual(['ee-deploy.prom']);
      const text = readFileSync(path.join(dir, 'ee-deploy.prom'), 'utf8');
      expect(text).toContain('ee_deploy_deployments{project="shop",env="production"} 2\n');
      expect(promtool(text).trim()).toBe('');
    }
  });

  it('a Pushgateway that is down is a warning; the deploy still succeeds', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    withMetrics(`metrics:\n  pushgateway: ${JSON.stringify(dead)}\n`);
    try {
      const r = await cli(f.home, p.dir, ['deploy', '-m', 'third']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(new RegExp(`^warning: metrics push to ${dead.replace(/[.]/g, '\\.')} failed: .+$`, 'm'));
      ids.push(current(roots[0])!);
    } finally {
      withMetrics('');
    }
  });
});

describe('ee-deploy metrics', () => {
  beforeAll(() => {
    // older records (no run, live_at, changes) and one torn line in web1's history
    const old = (o: Record<string, unknown>) => JSON.stringify({ user: 'bob', machine: 'm', env: 'production', ...o });
    const hist = path.join(roots[0], '.ee-deploy', 'history.jsonl');
    const before = readFileSync(hist, 'utf8');
    const seeded = [
      old({ id: '20200101000000', action: 'deploy', status: 'success', started: new Date(Date.now() - 5 * 86_400_000).toISOString(), duration_ms: 1000 }),
      old({ id: '20200101000001', action: 'deploy', status: 'rolled_back', started: new Date(Date.now() - 4 * 86_400_000).toISOString(), duration_ms: 60_000 }),
      '{"id":"2020010100000',
    ];
    writeFileSync(hist, seeded.join('\n') + '\n' + before);
    expect(existsSync(hist)).toBe(true);
  });

  it('--json: the documented keys; old records read, the torn line counted in a warning', async () => {
    const r = await cli(f.home, p.dir, ['metrics', '--json', '--since', '7d']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('warning: web1: skipped 1 unreadable history line (torn or corrupt)');
    const doc = jsonDoc(r.stdout) as Record<string, any>;
    for (const k of ['window', 'deployments', 'failed', 'deployment_frequency', 'change_failure_rate', 'lead_time', 'time_to_restore', 'duration', 'rollbacks']) expect(doc).toHaveProperty(k);
    expect(doc.window.days).toBe(7);
    // 2 seeded + first, second, third
    expect(doc.deployments).toBe(5);
    // seeded rolled_back, and second (left by the rollback)
    expect(doc.failed).toBe(2);
    expect(doc.deployment_frequency.per_day).toBeCloseTo(5 / 7, 9);
    expect(doc.deployment_frequency.band).toBe('high');
    expect(doc.change_failure_rate).toEqual({ value: 0.4, band: 'low' });
    expect(doc.time_to_restore.unrestored).toBe(0);
    // the seeded rolled_back one: 60 s
    expect(doc.time_to_restore.median_s).toBeGreaterThanOrEqual(0);
    expect(doc.rollbacks).toEqual({ manual: 1, automatic: 1 });
    expect(Object.keys(doc.duration.steps).sort()).toEqual(['build', 'checks', 'prepare', 'switch', 'upload']);
  });

  it('--prometheus passes promtool; release_info per host', async () => {
    const r = await cli(f.home, p.dir, ['metrics', '--prometheus']);
    expect(r.code, r.stderr).toBe(0);
    expect(promtool(r.stdout).trim()).toBe('');
    expect(r.stdout).toContain(`ee_deploy_release_info{project="shop",env="production",host="web2",release="${ids.at(-1)}",`);
  });

  it('a table on the terminal; one exec per host', async () => {
    const before = await Promise.all(f.servers.map((s) => s.count('Starting session')));
    const r = await cli(f.home, p.dir, ['metrics', '--since', '2w']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^shop \(production\): .* UTC, 14 days$/m);
    expect(r.stdout).toMatch(/^deployment frequency\s+0\.36\/day, 2\.5\/week\s+high$/m);
    expect(r.stdout).toMatch(/^change failure rate\s+40%\s+low$/m);
    expect(r.stdout).toMatch(/^rollbacks\s+1 manual, 1 automatic$/m);
    const after = await Promise.all(f.servers.map((s) => s.count('Starting session')));
    expect(after.map((a, i) => a - before[i])).toEqual([1, 1]);
  });

  it('a bad window is a usage error (exit 2)', async () => {
    const r = await cli(f.home, p.dir, ['metrics', '--since', 'yesterday']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: --since: expected a duration/);
  });

  it('an unreachable host: metrics of the others, a warning, exit 3', async () => {
    await f.servers[1].stop();
    try {
      const r = await cli(f.home, p.dir, ['metrics', '--json']);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/warning: web2: not reachable/);
      expect((jsonDoc(r.stdout) as { deployments: number }).deployments).toBe(5);
    } finally {
      await f.servers[1].start();
    }
  });
});

describe('history fields written by deploy and rollback', () => {
  const git = (dir: string, args: string[], date?: string) =>
    execFileSync('git', args, { cwd: dir, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x', ...(date ? { GIT_COMMITTER_DATE: date, GIT_AUTHOR_DATE: date } : {}) } }).trim();

  it('project, run, live_at, commit_time, changes from git, steps, bytes_sent, files_changed; the metrics use them', async () => {
    const root = path.join(tmp, 'git-local');
    const gp = newProject({ project: 'gitshop', hosts: [{ host: 'local', path: root }] });
    const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
    git(gp.dir, ['init', '-q', '-b', 'main']);
    git(gp.dir, ['add', '-A']);
    git(gp.dir, ['commit', '-qm', 'one'], hourAgo);
    const c1 = git(gp.dir, ['rev-parse', 'HEAD']);
    let r = await cli(f.home, gp.dir, ['deploy']);
    expect(r.code, r.stderr).toBe(0);
    for (const m of ['two', 'three']) {
      writeFileSync(path.join(gp.app, `${m}.txt`), m);
      git(gp.dir, ['add', '-A']);
      git(gp.dir, ['commit', '-qm', m], hourAgo);
    }
    const [c3, c2] = git(gp.dir, ['log', '-2', '--format=%H']).split('\n');
    r = await cli(f.home, gp.dir, ['deploy']);
    expect(r.code, r.stderr).toBe(0);
    r = await cli(f.home, gp.dir, ['rollback', '--yes']);
    expect(r.code, r.stderr).toBe(0);
    const recs = readFileSync(path.join(root, '.ee-deploy', 'history.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
    expect(recs.map((x) => x.action)).toEqual(['deploy', 'deploy', 'rollback']);
    const [d1, d2, rb] = recs;
    const hourAgoIso = new Date(hourAgo.replace(/\.\d+Z$/, 'Z')).toISOString();
    // first deploy: the head commit alone
    expect(d1).toMatchObject({ project: 'gitshop', commit: c1, commit_time: hourAgoIso, changes: [{ sha: c1, time: hourAgoIso }] });
    // then the commits new since the replaced release, newest first
    expect(d2.changes).toEqual([{ sha: c3, time: hourAgoIso }, { sha: c2, time: hourAgoIso }]);
    expect(d2.files_changed).toBe(2);
    expect(d2.bytes_sent).toBeGreaterThan(0);
    for (const d of [d1, d2]) {
      expect(d.run).toMatch(/^[0-9a-f-]{36}$/);
      expect(Date.parse(d.live_at)).toBeGreaterThanOrEqual(Date.parse(d.started));
      expect(Date.parse(d.live_at)).toBeLessThanOrEqual(Date.parse(d.started) + d.duration_ms);
      expect(Object.keys(d.steps).sort()).toEqual(['build', 'checks', 'prepare', 'switch', 'upload']);
    }
    expect(d1.run).not.toBe(d2.run);
    expect(rb).toMatchObject({ project: 'gitshop', action: 'rollback', id: d1.id, from: d2.id });
    expect(rb.run).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(rb.live_at)).toBeGreaterThanOrEqual(Date.parse(rb.started));
    // d2 was left by the rollback: failed; d1 is the successful one: its lead time = live_at - one hour
    const m = await cli(f.home, gp.dir, ['metrics', '--json']);
    expect(m.code, m.stderr).toBe(0);
    const doc = jsonDoc(m.stdout) as Record<string, any>;
    expect(doc.deployments).toBe(2);
    expect(doc.failed).toBe(1);
    expect(doc.lead_time.median_s).toBeCloseTo((Date.parse(d1.live_at) - Date.parse(hourAgoIso)) / 1000, 3);
    expect(doc.time_to_restore.median_s).toBeCloseTo((Date.parse(rb.started) + rb.duration_ms - Date.parse(d2.live_at)) / 1000, 3);
  });
});
