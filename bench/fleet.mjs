// Fleet scale: one parallel deploy to N hosts (ssh aliases f0..f<N-1> spread over the 10 sshd,
// each its own path) against one tar streamed to the same N aliases with the same concurrency
// (a batch of `max_parallel` ssh processes fed by one tar, batch after batch). The deploy must
// succeed everywhere on one release; its peak RSS is measured with /usr/bin/time.
import { readlinkSync } from 'node:fs';
import path from 'node:path';
import { coldCache, ee, eeConfig, eeEnv, log, makeApp, resetApp, target, tarFanout, timed, verify } from './lib.mjs';

/** config default when a run does not set max_parallel (schema default) */
export const DEFAULT_MAX_PARALLEL = 10;

export async function benchFleet(mode, o) {
  const [files, mb] = o.app;
  const app = makeApp(files, mb);
  resetApp(app);
  const out = [];
  for (const parallel of o.parallel) {
    const limit = parallel ?? DEFAULT_MAX_PARALLEL;
    const row = { hosts: o.hosts, app: `${files}f/${mb}MB`, mode: mode.name, parallel: limit, configured: parallel !== undefined, ee: [], rss: [], tar: [] };
    for (let run = 1; run <= o.runs; run++) {
      const hosts = Array.from({ length: o.hosts }, (_, i) => ({ host: `f${i}`, path: target(`fleet-ee-${i}`) }));
      const cfg = path.join(mode.dir, 'cfg', `fleet${o.hosts}-${limit}.yaml`);
      eeConfig(cfg, app, hosts, parallel !== undefined ? { env: { max_parallel: parallel } } : {});
      coldCache(mode);
      const r = await timed(ee(`deploy -c ${cfg} --yes --json`), eeEnv(mode), { rss: true });
      const doc = JSON.parse(r.out);
      const releases = new Set(hosts.map((h) => readlinkSync(path.join(h.path, 'current'))));
      if (doc.status !== 'success' || releases.size !== 1) throw new Error(`fleet deploy: status ${doc.status}, ${releases.size} different current releases`);
      if (run === 1) hosts.forEach((h) => verify(app, h.path));
      row.ee.push(r.secs);
      row.rss.push(r.rssMb);
      row.release = [...releases][0];
      const fan = Array.from({ length: o.hosts }, (_, i) => ({ alias: `f${i}`, path: target(`fleet-tar-${i}`) }));
      row.tar.push(await tarFanout(mode, app, fan, limit));
      if (run === 1) fan.forEach((t) => verify(app, t.path));
      log(`fleet ${o.hosts} hosts (${mode.name}, max_parallel ${limit}) run ${run}: ee-deploy ${r.secs.toFixed(2)} s (peak RSS ${r.rssMb?.toFixed(0)} MB), tar fan-out ${row.tar[row.tar.length - 1].toFixed(2)} s`);
    }
    out.push(row);
  }
  return out;
}
