#!/usr/bin/env node
// A deterministic sample application for the benchmark:
//   node bench/make-app.mjs FILES MEGABYTES OUTDIR [SEED]
// Half of the bytes are in a few incompressible binary files (assets/blobs/, one per 500 files,
// at least 3); the rest in source-like text files of 100 B .. 32 KiB (log-uniform) spread over
// directories nested up to four deep (~25 files each), plus a package.json. The same arguments
// always give the same bytes and the same mtimes (2024-01-01).
import { createCipheriv, createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const [files, megabytes, out, seed = 'ee-bench'] = process.argv.slice(2);
const N = Number(files);
const MB = Number(megabytes);
if (!(N >= 10) || !(MB > 0) || !out) {
  console.error('usage: make-app.mjs FILES(>=10) MEGABYTES(>0) OUTDIR [SEED]');
  process.exit(2);
}
if (existsSync(out) && readdirSync(out).length) {
  console.error(`${out} is not empty`);
  process.exit(1);
}

// xorshift128+ seeded from the seed string: fast and reproducible
const s = createHash('sha256').update(`${seed}:${N}:${MB}`).digest();
let s0 = s.readBigUInt64LE(0) | 1n;
let s1 = s.readBigUInt64LE(8) | 1n;
const M64 = (1n << 64n) - 1n;
function random() {
  let x = s0;
  const y = s1;
  s0 = y;
  x ^= (x << 23n) & M64;
  s1 = x ^ y ^ (x >> 17n) ^ (y >> 26n);
  return Number(((s1 + y) & M64) >> 11n) / 2 ** 53;
}
const pickFrom = (list) => list[Math.floor(random() * list.length)];

const total = Math.round(MB * 1024 * 1024);
const blobs = Math.max(3, Math.round(N / 500));
const texts = N - blobs - 1;
const blobBytes = Math.floor(total / 2);
const textBytes = total - blobBytes;

const lo = Math.log(100);
const hi = Math.log(32 * 1024);
const raw = Array.from({ length: texts }, () => Math.exp(lo + random() * (hi - lo)));
const k = textBytes / raw.reduce((a, b) => a + b, 0);
const sizes = raw.map((x) => Math.max(1, Math.round(x * k)));

const roots = ['src', 'lib', 'app', 'public', 'views', 'config', 'test', 'locales', 'docs'];
const dirs = [];
for (let i = 0; i < Math.max(1, Math.ceil(texts / 25)); i++) {
  if (i < roots.length) {
    dirs.push(roots[i]);
    continue;
  }
  const parent = pickFrom(dirs);
  dirs.push(parent.split('/').length < 4 ? `${parent}/d${i.toString(36)}` : `${pickFrom(roots)}/d${i.toString(36)}`);
}

const vocabulary = ('import export from const let var function return async await if else for while of in new class extends ' +
  'this null true false undefined try catch throw => { } ( ) [ ] ; , . = === !== && || + - * / config release deploy server ' +
  'request response user session error result value options path host port timeout retry cache logger').split(' ');
const extensions = ['.js', '.ts', '.mjs', '.json', '.css', '.html', '.md', '.yml', '.txt'];

function text(n) {
  const parts = [];
  let len = 0;
  let col = 0;
  while (len < n) {
    let w = pickFrom(vocabulary);
    if (col + w.length > 80) {
      w = '\n';
      col = 0;
    } else {
      w += ' ';
      col += w.length;
    }
    parts.push(w);
    len += w.length;
  }
  return parts.join('').slice(0, n);
}

const mtime = new Date('2024-01-01T00:00:00Z');
const made = new Set();
function put(rel, data) {
  const p = path.join(out, rel);
  const d = path.dirname(p);
  if (!made.has(d)) {
    mkdirSync(d, { recursive: true });
    made.add(d);
  }
  writeFileSync(p, data);
  utimesSync(p, mtime, mtime);
}

for (let i = 0; i < texts; i++) put(`${pickFrom(dirs)}/m${i.toString(36)}${pickFrom(extensions)}`, text(sizes[i]));
// incompressible: an AES-128-CTR keystream under a key derived from the seed
const key = createHash('sha256').update(`blob:${seed}`).digest().subarray(0, 16);
for (let i = 0; i < blobs; i++) {
  const n = Math.floor(blobBytes / blobs) + (i === 0 ? blobBytes % blobs : 0);
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(i + 1, 12);
  const c = createCipheriv('aes-128-ctr', key, iv);
  put(`assets/blobs/blob${i}.bin`, Buffer.concat([c.update(Buffer.alloc(n)), c.final()]));
}
put('package.json', `${JSON.stringify({ name: 'bench-app', version: '1.0.0', private: true }, null, 2)}\n`);
for (const d of made) utimesSync(d, mtime, mtime);
console.error(`make-app: ${texts + blobs + 1} files (${blobs} binary), ${(total / 1048576).toFixed(1)} MiB in ${out}`);
