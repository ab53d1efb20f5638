// Prints which top-level modules of src/ each module imports (type-only imports included), and
// the layers they form (0 = imports nothing). docs/architecture.md shows this list; run
// `node scripts/import-graph.mjs` after moving code between modules and compare.
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(process.argv[2] ?? '.', 'src');
const files = [];
(function walk(d) {
  for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) walk(p);
    else if (p.endsWith('.ts')) files.push(p);
  }
})(root);
const mod = (f) => {
  const r = path.relative(root, f).split(path.sep);
  return r.length === 1 ? r[0].replace(/\.ts$/, '') : r[0];
};
const edges = new Map();
for (const f of files) {
  const m = mod(f);
  if (!edges.has(m)) edges.set(m, new Set());
  const src = fs.readFileSync(f, 'utf8');
  for (const x of src.matchAll(/(?:import|export)\s[^'"]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g)) {
    const t = mod(path.resolve(path.dirname(f), x[1] ?? x[2]).replace(/\.js$/, '.ts'));
    if (t !== m) edges.get(m).add(t);
  }
}
const depth = new Map();
const level = (m, seen = new Set()) => {
  if (depth.has(m)) return depth.get(m);
  if (seen.has(m)) throw new Error(`import cycle through ${[...seen, m].join(' -> ')}`);
  seen.add(m);
  let v = 0;
  for (const t of edges.get(m) ?? []) v = Math.max(v, 1 + level(t, seen));
  seen.delete(m);
  depth.set(m, v);
  return v;
};
for (const m of [...edges.keys()].sort()) console.log(`${m.padEnd(10)} -> ${[...edges.get(m)].sort().join(' ') || '(nothing)'}`);
const layers = {};
for (const m of edges.keys()) (layers[level(m)] ??= []).push(m);
console.log('\nlayers:');
for (const k of Object.keys(layers).sort((a, b) => a - b)) console.log(`  ${k}  ${layers[k].sort().join(' ')}`);
