// Shared pieces of the benchmark (bench/run.mjs, bench/fleet.mjs): commands, timing, the sample
// apps, ee-deploy configs and the OpenSSH baselines.
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.dirname(HERE);
export const W = process.env.BENCH_WORK || path.join(HERE, '.work');
export const CLI = process.env.BENCH_CLI || path.join(REPO, 'dist', 'ee-deploy.mjs');
// BENCH_SHM: a directory of this run's own (two benchmarks on one machine must not share targets)
export const SHM = process.env.BENCH_SHM || (existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir());
export const USER = process.env.BENCH_USER || 'deploy';
export const KEX = '-o KexAlgorithms=curve25519-sha256';
export const log = (...a) => console.error('[bench]', ...a);

export function sh(cmd, o = {}) {
  const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8', maxBuffer: 64 << 20, ...o });
  if (r.status !== 0 && !o.allowFail) throw new Error(`failed (${r.status}): ${cmd}\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/**
 * Wall-clock seconds of a command (bash -c), failing loudly. With `rss: true` the command runs
 * under /usr/bin/time and its peak RSS (MB) comes back too; `out` is its stdout.
 */
export function timed(cmd, env = {}, o = {}) {
  const full = o.rss ? `/usr/bin/time -f 'BENCH_MAXRSS_KB %M' ${cmd}` : cmd;
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('bash', ['-c', full], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => {
      const secs = (performance.now() - t0) / 1000;
      if (code !== 0) return reject(new Error(`exit ${code}: ${cmd}\n${(out + err).slice(-2000)}`));
      const m = /BENCH_MAXRSS_KB (\d+)/.exec(err);
      resolve(o.rss || o.out ? { secs, rssMb: m ? Number(m[1]) / 1024 : undefined, out } : secs);
    });
  });
}

export const median = (xs) => {
  const a = [...xs].sort((x, y) => x - y);
  return a.length % 2 ? a[(a.length - 1) / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
};

/** a fresh, empty deploy target on /dev/shm owned by the login user */
export function target(name) {
  const t = path.join(SHM, `eebench-${name}`);
  rmSync(t, { recursive: true, force: true });
  mkdirSync(t, { recursive: true });
  sh(`chown ${USER} ${t}`, { allowFail: USER === 'root' });
  return t;
}
export const dropTargets = () => sh(`rm -rf ${SHM}/eebench-*`, { allowFail: true });

let releaseNo = 0;
export const rel = () => `r${Date.now()}${releaseNo++}`;

// ------------------------------------------------------------------------------- sample apps
export function makeApp(files, mb) {
  const app = path.join(W, `app-${files}f-${mb}mb`);
  if (!existsSync(path.join(app, '.git'))) {
    rmSync(app, { recursive: true, force: true });
    sh(`node ${HERE}/make-app.mjs ${files} ${mb} ${app}`);
    sh(`cd ${app} && git init -q -b main && git add -A && git -c user.name=bench -c user.email=bench@localhost commit -qm base && git tag base && git config user.name bench && git config user.email bench@localhost`);
  }
  return app;
}
export const resetApp = (app) => sh(`cd ${app} && git reset -q --hard base && git clean -qfdx`);
/** append a line to 1% of the files (text files, spread evenly, shifted by run), commit */
export function mutateApp(app, run) {
  const list = sh(`cd ${app} && git ls-files | grep -v '^assets/blobs/' | LC_ALL=C sort`).trim().split('\n');
  const all = Number(sh(`cd ${app} && git ls-files | wc -l`).trim());
  const k = Math.ceil(all / 100);
  for (let i = 0; i < k; i++) appendFileSync(path.join(app, list[(Math.floor((i * list.length) / k) + run) % list.length]), `\n// bench change ${run}\n`);
  sh(`cd ${app} && git commit -qam "change 1% (run ${run})"`);
  return k;
}
export function verify(app, t) {
  const r = spawnSync('diff', ['-rq', '--exclude=.git', '--exclude=REVISION', '--exclude=REVISION_TIME', `${app}/`, `${t}/current/`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${t}/current differs from ${app}:\n${r.stdout.slice(0, 2000)}`);
}

// ------------------------------------------------------------------------------------ ee-deploy
/**
 * ee-deploy.yaml for `hosts` ({ host, path }). `extra`: { source: {...}, env: {...} } merged in
 * (variants such as `source.hard_links: true`, `env.ssh_client: openssh`, `env.max_parallel`).
 */
export function eeConfig(file, app, hosts, extra = {}) {
  mkdirSync(path.dirname(file), { recursive: true });
  const flow = (o) => Object.entries(o).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(', ');
  writeFileSync(
    file,
    [
      'project: bench',
      `source: { ${flow({ dir: app, exclude: ['.git'], ...(extra.source ?? {}) })} }`,
      'keep_releases: 20',
      'environments:',
      '  bench:',
      ...Object.entries(extra.env ?? {}).map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`),
      '    hosts:',
      ...hosts.map((h) => `      - { host: ${h.host}, path: ${JSON.stringify(h.path)} }`),
      '',
    ].join('\n'),
  );
}
/** `name=section.key:value` -> { name, extra } (value parsed as JSON when it is JSON) */
export function parseVariant(spec) {
  const m = /^([\w-]+)=(source|env)\.(\w+):(.+)$/.exec(spec);
  if (!m) throw new Error(`--variant ${spec}: expected name=source.key:value or name=env.key:value`);
  let v = m[4];
  try {
    v = JSON.parse(v);
  } catch {
    /* a plain string */
  }
  return { name: m[1], extra: { [m[2]]: { [m[3]]: v } } };
}
export const ee = (args) => `node ${CLI} ${args}`;
export function eeEnv(mode) {
  return { HOME: path.join(mode.dir, 'home'), EE_DEPLOY_CACHE_DIR: path.join(mode.dir, 'cache'), NO_COLOR: '1', SSH_AUTH_SOCK: '' };
}
export function coldCache(mode) {
  for (const d of ['hashes', 'manifests']) rmSync(path.join(mode.dir, 'cache', d), { recursive: true, force: true });
}

// ------------------------------------------------------------------------- OpenSSH baselines
const sshCmd = (mode) => `ssh -F ${mode.sshConfig} ${KEX}`;
const extract = (t, r) => `set -e; mkdir -p ${t}/releases/${r}; tar -xf - -C ${t}/releases/${r}; ln -sfn releases/${r} ${t}/current.tmp; mv -T ${t}/current.tmp ${t}/current`;

/** tar over one connection: the physical limit of a full upload */
export const tarDeploy = (mode, app, t, alias = 'bench') => `tar -C ${app} --exclude=.git -cf - . | ${sshCmd(mode)} ${alias} "${extract(t, rel())}"`;
/** rsync --link-dest: the incremental limit (a second connection for the switch) */
export function rsyncDeploy(mode, app, t) {
  const r = rel();
  return (
    `rsync -a --delete --exclude=.git --link-dest=${t}/current/ -e "${sshCmd(mode)}" --rsync-path="mkdir -p ${t}/releases/${r} && rsync" ${app}/ bench:${t}/releases/${r}/ && ` +
    `${sshCmd(mode)} bench "ln -sfn releases/${r} ${t}/current.tmp && mv -T ${t}/current.tmp ${t}/current"`
  );
}
export const sshTrue = (mode) => `${sshCmd(mode)} bench true`;

/**
 * One tar stream fanned out to an ssh process per target (backpressure: the slowest sets the
 * pace), `limit` targets at a time (a new tar per batch). targets: [{ alias, path }].
 */
export async function tarFanout(mode, app, targets, limit = targets.length) {
  const t0 = performance.now();
  for (let i = 0; i < targets.length; i += limit) await fanBatch(mode, app, targets.slice(i, i + limit));
  return (performance.now() - t0) / 1000;
}
function fanBatch(mode, app, batch) {
  return new Promise((resolve, reject) => {
    const tar = spawn('tar', ['-C', app, '--exclude=.git', '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const r = rel();
    const sinks = batch.map((t) => spawn('bash', ['-c', `${sshCmd(mode)} ${t.alias} "${extract(t.path, r)}"`], { stdio: ['pipe', 'ignore', 'inherit'] }));
    let waiting = 0;
    tar.stdout.on('data', (chunk) => {
      for (const s of sinks) {
        if (!s.stdin.write(chunk)) {
          waiting++;
          s.stdin.once('drain', () => {
            if (--waiting === 0) tar.stdout.resume();
          });
        }
      }
      if (waiting) tar.stdout.pause();
    });
    tar.stdout.on('end', () => sinks.forEach((s) => s.stdin.end()));
    let left = sinks.length;
    for (const s of sinks)
      s.on('close', (code) => {
        if (code !== 0) reject(new Error(`fan-out ssh exited ${code}`));
        if (--left === 0) resolve();
      });
  });
}

export const sshdLog = () => readFileSync(path.join(W, 'sshd', 'sshd.log'), 'utf8');
const count = (text, what) => text.split(what).length - 1;
/** execs (sessions) and connections the first sshd saw while `fn` ran */
export async function sessionsDuring(fn) {
  const before = sshdLog();
  const r = await fn();
  await new Promise((res) => setTimeout(res, 150)); // sshd logs asynchronously
  const after = sshdLog().slice(before.length);
  return { r, conns: count(after, 'Accepted publickey'), sessions: count(after, 'Starting session') };
}
