// The benchmark's markdown table: per mode, app and scenario, ee-deploy's median, the baseline's,
// the median of the per-run ratios (interleaved pairs), the target, met or missed.
import os from 'node:os';
import { median } from './lib.mjs';

export const TARGETS = [
  // scenario, baseline tool, max ratio
  ['first', 'tar+ssh', 1.1],
  ['nochange', 'rsync', 0.5],
  ['change1pct', 'rsync', 0.7],
  ['rollback', 'ssh true', 1.5],
  ['fleet10', 'tar fan-out', 1.1],
  ['startup', 'node -e 0', 2],
];
const FLEET_MAX = 1.5;
const RSS_MAX_MB = 400;

const f3 = (x) => (x === undefined ? '' : x.toFixed(3));
const f2 = (x) => x.toFixed(2);

export function report(results, notes, o) {
  const lines = [];
  const load = os.loadavg().map((x) => x.toFixed(1)).join(' ');
  lines.push(`### ee-deploy benchmark: medians of ${o.runs} interleaved run(s), ${os.cpus().length} cores, load ${load} at the end, ${new Date().toISOString().slice(0, 16)}Z, node ${process.version}, ${o.minutes.toFixed(1)} min`);
  if (notes.relay) {
    const r = notes.relay;
    lines.push('', `WAN relay: set ${r.setRttMs} ms / ${r.setMbit} Mbit/s per connection and direction; measured ${r.rttMs.toFixed(1)} ms round trip, ${r.mbit.toFixed(1)} Mbit/s` + (notes.relayCarried ? `; carried ${(notes.relayCarried.bytesUp / 1e6).toFixed(0)} MB up, ${(notes.relayCarried.bytesDown / 1e6).toFixed(0)} MB down over ${notes.relayCarried.connections} connections` : ''));
  }
  for (const [k, c] of Object.entries(notes.compression)) if (c) lines.push(`- ee-deploy's compression, ${k}: ${c.gzip ? 'gzip' : 'none'} (${c.reason})`);
  lines.push('');
  lines.push('| link | app | scenario | tool | s | baseline | baseline s | ratio | target | | execs/conns per run |');
  lines.push('|---|---|---|---|---:|---|---:|---:|---:|---|---|');
  const pick = (mode, size, sc, tool) => results.filter((r) => r.mode === mode && r.size === size && r.scenario === sc && r.tool === tool);
  const modes = [...new Set(results.map((r) => r.mode))];
  for (const mode of modes) {
    const sizes = [...new Set(results.filter((r) => r.mode === mode).map((r) => r.size))];
    for (const size of sizes) {
      const tools = [...new Set(results.filter((r) => r.mode === mode && r.size === size && r.tool.startsWith('ee-deploy')).map((r) => r.tool))];
      for (const [sc, base, max] of TARGETS) {
        const b = pick(mode, size, sc, base);
        if (!b.length) continue;
        for (const tool of tools) {
          const a = pick(mode, size, sc, tool);
          if (!a.length) continue;
          const ratios = a.map((x) => x.secs / (b.find((y) => y.run === x.run)?.secs ?? NaN)).filter(Number.isFinite);
          const ratio = median(ratios);
          const last = a[a.length - 1];
          const per = last.sessions !== undefined ? `${last.sessions} / ${last.conns}` : '';
          const met = tool === 'ee-deploy' ? (ratio <= max ? 'met' : 'MISSED') : '(opt-in)';
          lines.push(`| ${mode} | ${size} | ${sc}${last.note ? ` (${last.note})` : ''} | ${tool} | ${f3(median(a.map((x) => x.secs)))} | ${base} | ${f3(median(b.map((x) => x.secs)))} | ${f2(ratio)} | <= ${max} | ${met} | ${per} |`);
        }
      }
      const ref = pick(mode, size, 'first', 'rsync');
      if (ref.length) lines.push(`| ${mode} | ${size} | first (reference) | rsync | | | ${f3(median(ref.map((x) => x.secs)))} | | | | |`);
    }
  }
  if (notes.fleet?.length) {
    lines.push('', '| link | hosts | app | max_parallel | ee-deploy s | tar fan-out s (same concurrency) | ratio | target | peak RSS MB (< 400) | |', '|---|---:|---|---:|---:|---:|---:|---:|---:|---|');
    for (const f of notes.fleet) {
      const ratio = median(f.ee.map((x, i) => x / f.tar[i]));
      const rss = Math.max(...f.rss.filter((x) => x !== undefined));
      const ok = ratio <= FLEET_MAX && rss < RSS_MAX_MB;
      lines.push(`| ${f.mode} | ${f.hosts} | ${f.app} | ${f.parallel}${f.configured ? '' : ' (default)'} | ${f3(median(f.ee))} | ${f3(median(f.tar))} | ${f2(ratio)} | <= ${FLEET_MAX} | ${rss.toFixed(0)} | ${ok ? 'met' : 'MISSED'} |`);
    }
  }
  return lines.join('\n');
}
