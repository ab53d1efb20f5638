#!/usr/bin/env node
// What independent releases cost: redeploys with `source.reuse: copy` (the default: every release
// its own files, reflinks where the target file system has them) beside `reuse: hardlink` (the
// opt-in: releases share inodes) and `rsync -a --link-dest` + one ssh for the switch (which shares
// inodes too), on one or more target file systems.
//
//   node bench/independence.mjs [--runs 3] [--sizes 2000,20000] [--fs shm=/dev/shm,xfs=/mnt/x] [--wan]
//       --fs NAME=DIR,...   where the deploy targets live (default shm=/dev/shm): e.g. an ext4
//                           directory and an XFS mount made with `mkfs.xfs -m reflink=1`
//       --wan               through bench/relay.mjs (--rtt 40 --mbit 100) instead of loopback
//       --server-only       only the server-side steps, no SSH (serverSide below)
//
// Per file system, app size and run (fresh targets each run, interleaved): a first deploy of each
// tool (untimed), then timed: `nochange` (redeploy, nothing changed) and `change1pct` (append to
// 1% of the files). Also the server disk each approach uses after the three deploys (du -sk of
// the target, hard links counted once). Output: a markdown table on stdout.
// The functions are exported for bench/run.mjs-style callers: benchIndependence(mode, o).
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI, USER, coldCache, ee, eeConfig, eeEnv, log, makeApp, median, mutateApp, resetApp, rsyncDeploy, sh, timed, verify } from './lib.mjs';

export const APPROACHES = [
  { name: 'copy (default)', extra: {} },
  { name: 'hardlink (opt-in)', extra: { source: { reuse: 'hardlink' } } },
];

/** a fresh, empty deploy target under `root`, owned by the login user */
function targetIn(root, name) {
  const t = path.join(root, `eeindep-${name}`);
  rmSync(t, { recursive: true, force: true });
  mkdirSync(t, { recursive: true });
  sh(`chown ${USER} ${t}`, { allowFail: USER === 'root' });
  return t;
}

/**
 * Times every approach and rsync for one mode (from bench/lab.mjs writeMode), app size and target
 * file system; returns rows { fs, size, scenario, tool, secs[], diskMb }.
 */
export async function benchIndependence(mode, { files, mb, fs, root, runs }) {
  const app = makeApp(files, mb);
  const size = `${files}f/${mb}MB`;
  const cfgDir = path.join(mode.dir, 'cfg-indep', fs, `${files}`);
  const rows = new Map();
  const rec = (scenario, tool, secs) => {
    const k = `${scenario}|${tool}`;
    if (!rows.has(k)) rows.set(k, { fs, size, scenario, tool, secs: [] });
    rows.get(k).secs.push(secs);
  };
  const disk = {};
  for (let run = 1; run <= runs; run++) {
    resetApp(app);
    sh(`find ${app} -type f -not -path '*/.git/*' -exec cat {} + >/dev/null`);
    const tools = APPROACHES.map((a, i) => ({ ...a, path: targetIn(root, `${fs}-${i}`), cfg: path.join(cfgDir, `${i}.yaml`) }));
    const tRsync = targetIn(root, `${fs}-rsync`);
    for (const t of tools) eeConfig(t.cfg, app, [{ host: 'bench', path: t.path }], t.extra);
    const deploy = (t) => timed(ee(`deploy -c ${t.cfg} --yes`), eeEnv(mode));
    for (const t of tools) {
      coldCache(mode);
      await deploy(t);
    }
    await timed(rsyncDeploy(mode, app, tRsync));
    for (const t of tools) rec('nochange', t.name, await deploy(t));
    rec('nochange', 'rsync --link-dest', await timed(rsyncDeploy(mode, app, tRsync)));
    mutateApp(app, run);
    for (const t of tools) {
      rec('change1pct', t.name, await deploy(t));
      if (run === 1) verify(app, t.path);
    }
    rec('change1pct', 'rsync --link-dest', await timed(rsyncDeploy(mode, app, tRsync)));
    if (run === 1) {
      for (const t of tools) disk[t.name] = Number(sh(`du -sk ${t.path}`).split(/\s/)[0]) / 1024;
      disk['rsync --link-dest'] = Number(sh(`du -sk ${tRsync}`).split(/\s/)[0]) / 1024;
    }
    log(`${fs} ${size} run ${run}/${runs}: ${[...rows.values()].map((r) => `${r.scenario}/${r.tool} ${r.secs[r.secs.length - 1].toFixed(2)}`).join(', ')}`);
    for (const t of [...tools.map((x) => x.path), tRsync]) rmSync(t, { recursive: true, force: true });
  }
  resetApp(app);
  return [...rows.values()].map((r) => ({ ...r, diskMb: disk[r.tool] }));
}

/**
 * The server side alone: what giving a release the base's files costs, per file system and app
 * (`cp -a`, `cp -a --reflink=auto` (the default), `cp -al` for reuse: hardlink, and the base
 * check `open` makes), no SSH, no client; medians of `runs`. Rows { fs, size, what, secs[] }.
 */
export function serverSide({ files, mb, fs, root, runs }) {
  const app = makeApp(files, mb);
  const dir = targetIn(root, `${fs}-server`);
  sh(`tar -C ${app} --exclude=.git -cf - . | (mkdir ${dir}/base && tar -C ${dir}/base -xf -)`);
  const steps = [
    ['cp -a (copy)', `cp -a ${dir}/base ${dir}/s`],
    ['cp -a --reflink=auto (copy, the default)', `cp -a --reflink=auto ${dir}/base ${dir}/s`],
    ['cp -al (hardlink; about what the tar hard-link pass costs too)', `cp -al ${dir}/base ${dir}/s`],
    ['find -newer stamp (the check before reuse)', `touch ${dir}/stamp && find ${dir}/base -newer ${dir}/stamp | wc -l >/dev/null; mkdir ${dir}/s`],
  ];
  const rows = steps.map(([what]) => ({ fs, size: `${files}f/${mb}MB`, what, secs: [] }));
  for (let run = 0; run < runs; run++) {
    steps.forEach(([, cmd], i) => {
      sh(`rm -rf ${dir}/s; sync`);
      const t0 = performance.now();
      sh(cmd);
      rows[i].secs.push((performance.now() - t0) / 1000);
    });
  }
  rmSync(dir, { recursive: true, force: true });
  return rows;
}

/** markdown: per file system and size, each scenario's medians and the ratio to rsync */
export function independenceTable(rows, runs) {
  const out = [`medians of ${runs} run(s); ratio = tool / rsync --link-dest (same run order, interleaved); disk = du of the target after 3 deploys`, '', '| fs | app | scenario | tool | median s | vs rsync | disk MB |', '|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    const base = rows.find((x) => x.fs === r.fs && x.size === r.size && x.scenario === r.scenario && x.tool === 'rsync --link-dest');
    const m = median(r.secs);
    out.push(`| ${r.fs} | ${r.size} | ${r.scenario} | ${r.tool} | ${m.toFixed(3)} | ${(m / median(base.secs)).toFixed(2)} | ${r.diskMb === undefined ? '' : r.diskMb.toFixed(0)} |`);
  }
  return out.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name, def) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : def;
  };
  const runs = Number(opt('runs', '3'));
  const sizes = opt('sizes', '2000,20000').split(',').map((s) => (s.includes('x') ? s.split('x').map(Number) : [Number(s), Number(s) / 100]));
  const fss = opt('fs', 'shm=/dev/shm').split(',').map((s) => s.split('='));
  sh(`test -f ${CLI}`);
  if (args.includes('--server-only')) {
    const out = ['| fs | app | server step | median s |', '|---|---|---|---|'];
    for (const [fs, root] of fss) for (const [files, mb] of sizes) for (const r of serverSide({ files, mb, fs, root, runs })) out.push(`| ${r.fs} | ${r.size} | ${r.what} | ${median(r.secs).toFixed(3)} |`);
    console.log(`### release independence: server side, medians of ${runs}\n\n${out.join('\n')}`);
    process.exit(0);
  }
  const { startServers, startRelays, stopAll, writeMode } = await import('./lab.mjs');
  try {
    const ports = await startServers();
    const mode = args.includes('--wan') ? writeMode('wan', await startRelays(ports, Number(opt('rtt', '40')), Number(opt('mbit', '100'))), 0) : writeMode('loopback', ports, 0);
    // warm-up (untimed): V8 code cache, ssh host key paths
    const warm = targetIn(fss[0][1], 'warmup');
    eeConfig(path.join(mode.dir, 'cfg-indep', 'warmup.yaml'), makeApp(sizes[0][0], sizes[0][1]), [{ host: 'bench', path: warm }]);
    await timed(ee(`deploy -c ${path.join(mode.dir, 'cfg-indep', 'warmup.yaml')} --yes`), eeEnv(mode));
    rmSync(warm, { recursive: true, force: true });
    const rows = [];
    for (const [fs, root] of fss) for (const [files, mb] of sizes) rows.push(...(await benchIndependence(mode, { files, mb, fs, root, runs })));
    console.log(`### release independence: ${mode.name}\n\n${independenceTable(rows, runs)}`);
  } finally {
    stopAll();
  }
}
