#!/usr/bin/env node
// `npm run bench`: ee-deploy against the physical limits, side by side, on private sshd servers.
//
//   node bench/run.mjs [--wan] [--runs 3] [--sizes 2000,20000] [--fleet 100] [--quick]
//       --wan                 loopback AND through the WAN relay (default: loopback only)
//       --modes loopback,wan  the same, spelled out;  --rtt 40 --mbit 100  the relay's link
//       --sizes               apps of N files / N/100 MB (or FILESxMB), bench/make-app.mjs; 0: none
//       --fleet N             N hosts (aliases f0.. over 10 sshd, each its own path), --fleet-app
//                             500x5, --fleet-parallel 10,25 (max_parallel values; default: the
//                             config default), --fleet-runs 1, in the last mode; 0 = skip
//       --variant NAME=source.KEY:VALUE | NAME=env.KEY:VALUE  an ee-deploy setting measured
//                             beside the default (e.g. hardlinks=source.hard_links:true)
//       --quick               --runs 1 --sizes 2000 --fleet 20
//
// Per mode and app size, every run uses fresh targets on /dev/shm and times, in this order
// (interleaved pairs; ratios are medians of the per-run ratios):
//   first      deploy into an empty target (cold client cache)  vs  tar -c | ssh 'tar -x'
//   nochange   redeploy, nothing changed                         vs  rsync -a --link-dest + ssh (switch)
//   change1pct redeploy after appending to 1% of the files       vs  the same rsync
//   rollback   ee-deploy rollback --yes                          vs  ssh host true
//   fleet10    first deploy to 10 hosts (10 sshd) at once        vs  one tar fanned out to 10 ssh
// plus start-up (`ee-deploy --help` vs `node -e 0`) and the fleet (bench/fleet.mjs).
// OpenSSH baselines use -o KexAlgorithms=curve25519-sha256, the key exchange ee-deploy negotiates.
// Output: the table on stdout and in $BENCH_WORK/results/.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { probeRelay } from './relay.mjs';
import { CLI, W, coldCache, dropTargets, ee, eeConfig, eeEnv, log, makeApp, mutateApp, parseVariant, resetApp, rsyncDeploy, sessionsDuring, sh, sshTrue, tarDeploy, tarFanout, target, timed, verify } from './lib.mjs';
import { relayStats, startRelays, startServers, stopAll, writeMode } from './lab.mjs';
import { benchFleet } from './fleet.mjs';
import { report } from './report.mjs';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const all = (name) => args.flatMap((a, i) => (a === `--${name}` ? [args[i + 1]] : []));
const QUICK = args.includes('--quick');
const RUNS = Number(opt('runs', QUICK ? '1' : '3'));
const SIZES = opt('sizes', QUICK ? '2000' : '2000,20000')
  .split(',')
  .filter((s) => s && s !== '0')
  .map((s) => (s.includes('x') ? s.split('x').map(Number) : [Number(s), Number(s) / 100]));
const MODES = opt('modes', args.includes('--wan') ? 'loopback,wan' : 'loopback').split(',');
const RTT = Number(opt('rtt', '40'));
const MBIT = Number(opt('mbit', '100'));
const FLEET = Number(opt('fleet', QUICK ? '20' : '100'));
const FLEET_APP = opt('fleet-app', '500x5').split('x').map(Number);
const FLEET_PARALLEL = opt('fleet-parallel', '').split(',').filter(Boolean).map(Number);
const FLEET_RUNS = Number(opt('fleet-runs', '1'));
const VARIANTS = all('variant').map(parseVariant);
const KEEP = args.includes('--keep');

const results = []; // { mode, size, scenario, tool, secs, run, sessions, conns, note }
const rec = (mode, size, scenario, tool, secs, run, extra = {}) => results.push({ mode: mode.name, size, scenario, tool, secs, run, ...extra });
const notes = { compression: {}, relay: undefined, fleet: [] };

async function eeRun(mode, cmd, o = {}) {
  const m = await sessionsDuring(() => timed(ee(cmd), eeEnv(mode), o));
  const r = typeof m.r === 'number' ? { secs: m.r } : m.r;
  return { ...r, sessions: m.sessions, conns: m.conns };
}

async function benchSize(mode, files, mb) {
  const size = `${files}f/${mb}MB`;
  const app = makeApp(files, mb);
  resetApp(app);
  sh(`find ${app} -type f -not -path '*/.git/*' -exec cat {} + >/dev/null`); // page cache, as for every tool
  const cfgDir = path.join(mode.dir, 'cfg', `${files}`);
  const cfg = (name) => path.join(cfgDir, `${name.replace(/[^\w.-]+/g, '_')}.yaml`); // a variant's name goes into a shell command line
  const tools = [{ name: 'ee-deploy', extra: {} }, ...VARIANTS.map((v) => ({ name: `ee-deploy (${v.name})`, extra: v.extra }))];
  // warm-up (untimed): V8 code cache, ssh host key paths
  eeConfig(cfg('warmup'), app, [{ host: 'bench', path: target('warmup') }]);
  await timed(ee(`deploy -c ${cfg('warmup')} --yes`), eeEnv(mode));

  for (let run = 1; run <= RUNS; run++) {
    resetApp(app);
    const check = run === 1;
    for (const t of tools) eeConfig(cfg(t.name), app, [{ host: 'bench', path: (t.path = target(`${mode.name}-${tools.indexOf(t)}`)) }], t.extra);
    const tTar = target(`${mode.name}-tar`);
    const tRsync = target(`${mode.name}-rsync`);
    const deploy = (t, json = false) => eeRun(mode, `deploy -c ${cfg(t.name)} --yes${json ? ' --json' : ''}`, { out: json });

    for (const t of tools) {
      coldCache(mode);
      const m = await deploy(t, check && t === tools[0]);
      if (m.out) notes.compression[`${mode.name} ${size}`] = JSON.parse(m.out).hosts[0].compression;
      rec(mode, size, 'first', t.name, m.secs, run, { sessions: m.sessions, conns: m.conns });
      if (check) verify(app, t.path);
    }
    rec(mode, size, 'first', 'tar+ssh', await timed(tarDeploy(mode, app, tTar)), run);
    if (check) verify(app, tTar);
    rec(mode, size, 'first', 'rsync', await timed(rsyncDeploy(mode, app, tRsync)), run);

    for (const t of tools) {
      const m = await deploy(t);
      rec(mode, size, 'nochange', t.name, m.secs, run, { sessions: m.sessions, conns: m.conns });
    }
    rec(mode, size, 'nochange', 'rsync', await timed(rsyncDeploy(mode, app, tRsync)), run);

    const changed = mutateApp(app, run);
    for (const t of tools) {
      const m = await deploy(t);
      rec(mode, size, 'change1pct', t.name, m.secs, run, { sessions: m.sessions, conns: m.conns, note: `${changed} files` });
      if (check) verify(app, t.path);
    }
    rec(mode, size, 'change1pct', 'rsync', await timed(rsyncDeploy(mode, app, tRsync)), run);
    if (check) verify(app, tRsync);

    for (const t of tools) {
      const m = await eeRun(mode, `rollback -c ${cfg(t.name)} --yes`);
      rec(mode, size, 'rollback', t.name, m.secs, run, { sessions: m.sessions, conns: m.conns });
    }
    rec(mode, size, 'rollback', 'ssh true', await timed(sshTrue(mode)), run);

    // ten hosts, one per sshd
    resetApp(app);
    const eeT = Array.from({ length: 10 }, (_, i) => ({ host: `bench${i}`, path: target(`${mode.name}-f10ee-${i}`) }));
    eeConfig(cfg('fleet10'), app, eeT);
    coldCache(mode);
    const m = await eeRun(mode, `deploy -c ${cfg('fleet10')} --yes`);
    rec(mode, size, 'fleet10', 'ee-deploy', m.secs, run, { sessions: m.sessions, conns: m.conns });
    if (check) eeT.forEach((t) => verify(app, t.path));
    const fanT = Array.from({ length: 10 }, (_, i) => ({ alias: `bench${i}`, path: target(`${mode.name}-f10tar-${i}`) }));
    rec(mode, size, 'fleet10', 'tar fan-out', await tarFanout(mode, app, fanT), run);
    if (check) fanT.forEach((t) => verify(app, t.path));
    log(`${mode.name} ${size} run ${run}/${RUNS}: ${results.filter((x) => x.size === size && x.mode === mode.name && x.run === run).map((x) => `${x.scenario}/${x.tool} ${x.secs.toFixed(2)}`).join(', ')}`);
    if (!KEEP) dropTargets();
  }
  resetApp(app);
}

if (!existsSync(CLI)) throw new Error(`${CLI} is missing: EE_SKIP_SEA=1 npm run build`);
mkdirSync(W, { recursive: true });
process.on('SIGINT', () => process.exit(130));
const t0 = Date.now();
try {
  log(`runs=${RUNS} sizes=${SIZES.map((s) => s.join('x')).join(',')} modes=${MODES.join(',')} fleet=${FLEET} variants=${VARIANTS.map((v) => v.name).join(',') || '-'}; load ${os.loadavg()[0].toFixed(2)}`);
  const ports = await startServers();
  const modes = [];
  for (const name of MODES) {
    if (name === 'loopback') modes.push(writeMode('loopback', ports, FLEET));
    else if (name === 'wan') {
      notes.relay = { ...(await probeRelay({ rttMs: RTT, mbit: MBIT })), setRttMs: RTT, setMbit: MBIT };
      log(`relay (set ${RTT} ms / ${MBIT} Mbit/s) measured: rtt ${notes.relay.rttMs.toFixed(1)} ms, throughput ${notes.relay.mbit.toFixed(1)} Mbit/s`);
      modes.push(writeMode('wan', await startRelays(ports, RTT, MBIT), FLEET));
    } else throw new Error(`--modes: loopback or wan, not ${name}`);
  }
  for (let run = 1; run <= RUNS * 2; run++) {
    rec({ name: '-' }, '-', 'startup', 'node -e 0', await timed('node -e 0'), run);
    rec({ name: '-' }, '-', 'startup', 'ee-deploy', await timed(`${ee('--help')} >/dev/null`), run);
  }
  for (const mode of modes) for (const [files, mb] of SIZES) await benchSize(mode, files, mb);
  if (FLEET > 0) {
    const mode = modes[modes.length - 1];
    notes.fleet = await benchFleet(mode, { hosts: FLEET, app: FLEET_APP, parallel: FLEET_PARALLEL.length ? FLEET_PARALLEL : [undefined], runs: FLEET_RUNS });
  }
  notes.relayCarried = await relayStats();
  const table = report(results, notes, { runs: RUNS, minutes: (Date.now() - t0) / 60000 });
  console.log(table);
  mkdirSync(path.join(W, 'results'), { recursive: true });
  const file = path.join(W, 'results', `${new Date().toISOString().replace(/[:.]/g, '-')}.md`);
  writeFileSync(file, `${table}\n`);
  writeFileSync(file.replace(/\.md$/, '.json'), JSON.stringify({ results, notes }, null, 1));
  log(`results: ${file} (${((Date.now() - t0) / 60000).toFixed(1)} min)`);
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
} finally {
  if (!KEEP) dropTargets();
  stopAll();
}
