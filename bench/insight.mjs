#!/usr/bin/env node
// `node bench/insight.mjs [--runs 5] [--records 10000]`: metrics and dashboard timings on the
// private benchmark sshd (bench/sshd.sh, 127.0.0.1; aliases bench0..bench9, one server).
//
//   metrics    `ee-deploy metrics --json` over 3 hosts whose histories hold --records runs each
//              (one record per host per run, as a 3-host deploy writes), minus the same command
//              over 3 hosts with empty histories: what the records cost beyond start-up and the
//              SSH round trips (target: < 1 s)
//   dashboard  10 registered projects (one host each, 200 runs of history): the first refresh
//              (one exec per host), then the first page load in headless Chromium (playwright-core,
//              Debian's /usr/bin/chromium) until the page has rendered the state (target: < 300 ms)
// Medians over --runs. Needs `npm run build` first.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.dirname(HERE);
const W = process.env.BENCH_WORK || path.join(HERE, '.work');
const CLI = path.join(REPO, 'dist', 'ee-deploy.mjs');
const SHM = existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const RUNS = Number(opt('runs', '5'));
const RECORDS = Number(opt('records', '10000'));
const HOME = path.join(W, 'home');
const env = { ...process.env, HOME, XDG_CONFIG_HOME: path.join(HOME, '.config'), SSH_AUTH_SOCK: '', NO_COLOR: '1', GITHUB_ACTOR: 'bench' };
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const log = (s) => console.error(`[bench/insight] ${s}`);

function sshd(cmd) {
  const r = spawnSync('bash', [path.join(HERE, 'sshd.sh'), cmd], { stdio: 'inherit', env: { ...process.env, BENCH_WORK: W } });
  if (r.status !== 0 && cmd === 'start') throw new Error('could not start the benchmark sshd');
}

/** `runs` runs over `hosts`: deploys with changes and steps, every 10th rolled back, every 25th followed by a rollback */
function history(runs, hosts, t0) {
  const out = hosts.map(() => []);
  for (let i = 0; i < runs; i++) {
    const started = t0 + i * 600_000;
    const id = new Date(started).toISOString().replace(/\D/g, '').slice(0, 14);
    const rollback = i % 25 === 24;
    const status = rollback ? 'success' : i % 10 === 9 ? 'rolled_back' : 'success';
    hosts.forEach((h, k) => {
      const rec = {
        id, action: rollback ? 'rollback' : 'deploy', status, project: 'bench', env: 'production', run: `r${i}`, user: 'alice', machine: 'ci',
        commit: `${i.toString(16).padStart(40, '0')}`, branch: 'main', commit_time: new Date(started - 3_600_000).toISOString(),
        changes: rollback ? undefined : [{ sha: `${i.toString(16).padStart(40, 'a')}`, time: new Date(started - 7_200_000).toISOString() }, { sha: `${i.toString(16).padStart(40, 'b')}`, time: new Date(started - 3_600_000).toISOString() }],
        started: new Date(started).toISOString(), live_at: new Date(started + 30_000 + k * 1000).toISOString(), duration_ms: 45_000 + (i % 7) * 1000 + k * 500,
        steps: { build: 10_000, upload: 20_000 + k * 100, prepare: 5_000, switch: 300, checks: 4_000 }, bytes_sent: 123_456, files_changed: 12, hosts: hosts.map((x) => x),
      };
      out[k].push(JSON.stringify(rec));
    });
  }
  return out.map((lines) => lines.join('\n') + '\n');
}

function target(root, text) {
  mkdirSync(path.join(root, '.ee-deploy'), { recursive: true });
  mkdirSync(path.join(root, 'releases', '20261201000000'), { recursive: true });
  writeFileSync(path.join(root, 'releases', '20261201000000', 'REVISION'), 'abc\n');
  spawnSync('ln', ['-sfn', 'releases/20261201000000', path.join(root, 'current')]);
  if (text) writeFileSync(path.join(root, '.ee-deploy', 'history.jsonl'), text);
  spawnSync('chmod', ['-R', 'a+rX', root]);
}

function config(dir, project, hosts) {
  mkdirSync(path.join(dir, 'app'), { recursive: true });
  writeFileSync(path.join(dir, 'app', 'index.html'), 'x\n');
  const file = path.join(dir, 'ee-deploy.yaml');
  writeFileSync(file, [`project: ${project}`, 'source: { dir: ./app }', 'environments:', '  production:', '    hosts:', ...hosts.map(([h, p]) => `      - { host: ${h}, path: ${JSON.stringify(p)} }`)].join('\n') + '\n');
  return file;
}

function timeCli(argv) {
  const t = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [CLI, ...argv], { env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`ee-deploy ${argv.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return { ms, stdout: r.stdout };
}

async function benchMetrics(base) {
  const hosts = ['bench0', 'bench1', 'bench2'];
  const t0 = Date.now() - RECORDS * 600_000 - 3_600_000;
  const texts = history(RECORDS, hosts, t0);
  const full = hosts.map((h, k) => path.join(base, `full-${h}`));
  const empty = hosts.map((h) => path.join(base, `empty-${h}`));
  full.forEach((r, k) => target(r, texts[k]));
  empty.forEach((r) => target(r, ''));
  const fullCfg = config(path.join(base, 'cfg-full'), 'bench', hosts.map((h, k) => [h, full[k]]));
  const emptyCfg = config(path.join(base, 'cfg-empty'), 'bench', hosts.map((h, k) => [h, empty[k]]));
  const days = Math.ceil((RECORDS * 600_000) / 86_400_000) + 2;
  const a = [];
  const b = [];
  let doc;
  for (let i = 0; i < RUNS; i++) {
    b.push(timeCli(['metrics', '-c', emptyCfg, '--json', '--since', `${days}d`]).ms);
    const r = timeCli(['metrics', '-c', fullCfg, '--json', '--since', `${days}d`]);
    a.push(r.ms);
    doc = JSON.parse(r.stdout);
  }
  const bytes = texts.reduce((s, t) => s + t.length, 0);
  return { records: RECORDS * 3, runs: RECORDS, mb: bytes / 1e6, full: median(a), empty: median(b), beyond: median(a) - median(b), deployments: doc.deployments };
}

async function benchDashboard(base) {
  const { chromium } = await import('playwright-core');
  // a fresh registry with 10 projects, one host each (bench0..bench9), 200 runs of history each
  rmSync(path.join(HOME, '.config', 'ee-deploy'), { recursive: true, force: true });
  mkdirSync(path.join(HOME, '.config', 'ee-deploy'), { recursive: true });
  const registry = {};
  for (let i = 0; i < 10; i++) {
    const root = path.join(base, `dash-${i}`);
    target(root, history(200, [`bench${i}`], Date.now() - 200 * 600_000 - 3_600_000)[0]);
    registry[`proj${i}`] = config(path.join(base, `dcfg-${i}`), `proj${i}`, [[`bench${i}`, root]]);
  }
  writeFileSync(path.join(HOME, '.config', 'ee-deploy', 'projects.json'), JSON.stringify(registry));
  const loads = [];
  const refreshes = [];
  const https = [];
  const inPage = [];
  const warm = [];
  for (let i = 0; i < RUNS; i++) {
    const proc = spawn(process.execPath, [CLI, 'dashboard', '--port', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const url = await new Promise((resolve, reject) => {
      let out = '';
      proc.stdout.setEncoding('utf8').on('data', (d) => {
        out += d;
        const m = /(http:\/\/\S+\?token=\S+)/.exec(out);
        if (m) resolve(m[1]);
      });
      proc.on('exit', () => reject(new Error('dashboard exited')));
    });
    // the server's first refresh (one exec per host), started when it began listening
    const state = await (await fetch(url.replace('/?', '/api/state?'))).json();
    refreshes.push(state.tookMs);
    // what the page fetches: the HTML, then the (cached) state
    const th = process.hrtime.bigint();
    await (await fetch(url)).text();
    await (await fetch(url.replace('/?', '/api/state?'))).text();
    https.push(Number(process.hrtime.bigint() - th) / 1e6);
    const profile = mkdtempSync(path.join(os.tmpdir(), 'ee-bench-chromium-'));
    const ctx = await chromium.launchPersistentContext(profile, { executablePath: '/usr/bin/chromium', headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
    const page = await ctx.newPage();
    await page.goto('about:blank');
    const t = process.hrtime.bigint();
    await page.goto(url);
    await page.waitForSelector('body[data-loaded="true"]');
    loads.push(Number(process.hrtime.bigint() - t) / 1e6);
    inPage.push(Number(await page.locator('body').getAttribute('data-rendered-ms')));
    // the same page again in the now warm browser
    const t2 = process.hrtime.bigint();
    await page.goto(url);
    await page.waitForSelector('body[data-loaded="true"]');
    warm.push(Number(process.hrtime.bigint() - t2) / 1e6);
    const sections = await page.locator('section.env').count();
    if (sections !== 10) throw new Error(`expected 10 environments on the page, saw ${sections}`);
    await ctx.close();
    rmSync(profile, { recursive: true, force: true });
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  }
  return { load: median(loads), inPage: median(inPage), warm: median(warm), http: median(https), refresh: median(refreshes) };
}

if (!existsSync(CLI)) throw new Error(`${CLI} is missing: npm run build`);
mkdirSync(W, { recursive: true });
sshd('start');
if (!process.env.BENCH_KEEP) process.on("exit", () => sshd("stop"));
const base = mkdtempSync(path.join(SHM, 'ee-insight-'));
spawnSync('chmod', ['755', base]);
try {
  log(`runs=${RUNS} records/host=${RECORDS}; load ${os.loadavg()[0].toFixed(2)}`);
  const m = await benchMetrics(base);
  const d = await benchDashboard(base);
  const lines = [
    '| what | measured (median) | target |',
    '|---|---|---|',
    `| metrics, ${m.runs} runs = ${m.records} records (${m.mb.toFixed(1)} MB) on 3 hosts | ${m.full.toFixed(0)} ms total; ${m.empty.toFixed(0)} ms with empty histories; **${m.beyond.toFixed(0)} ms beyond start-up + round trips** | < 1000 ms ${m.beyond < 1000 ? 'ok' : 'MISS'} |`,
    `| dashboard, 10 projects: first page load (Chromium, until rendered) | **${d.load.toFixed(0)} ms** | < 300 ms ${d.load < 300 ? 'ok' : 'MISS'} |`,
    `| dashboard, 10 projects: the same, as the page measures it (navigation start to state rendered) | ${d.inPage.toFixed(0)} ms | - |`,
    `| dashboard, 10 projects: loading it again in the warm browser | ${d.warm.toFixed(0)} ms | - |`,
    `| dashboard, 10 projects: the page's two requests (HTML + cached state) | ${d.http.toFixed(0)} ms | - |`,
    `| dashboard, 10 projects: one refresh (10 hosts, one exec each) | ${d.refresh} ms | - |`,
  ];
  console.log(lines.join('\n'));
  if (m.deployments <= 0) throw new Error('metrics counted no deployments');
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
} finally {
  if (!process.env.BENCH_KEEP) rmSync(base, { recursive: true, force: true });
  else log(`kept ${base}`);
}
