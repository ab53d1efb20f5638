import { spawnSync } from 'node:child_process';
import { closeSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { END_OF_ARCHIVE, padding, tarHeader, writeTarHeader, type TarHeader } from '../../src/release/tar-writer.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-tar-writer-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** GNU tar, in UTC, with full timestamps; fails the test on any complaint */
function gnuTar(...args: string[]): string {
  const r = spawnSync('tar', args, { encoding: 'utf8', env: { ...process.env, TZ: 'UTC', LC_ALL: 'C.UTF-8' } });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout;
}

const MTIME = 1_760_000_000; // 2025-10-09 08:53:20 UTC
const R = 'rel';
const long100 = `${'a'.repeat(60)}/${'b'.repeat(60)}/${'c'.repeat(60)}/file.txt`; // > 100 bytes: ustar prefix split
const longSegment = `${'n'.repeat(150)}.txt`; // one segment over 100 bytes: pax path
const longTarget = `${'../'.repeat(40)}target`; // 126 bytes: pax linkpath

type Member = TarHeader & { data?: string };
const members: Member[] = [
  { name: R, type: 'dir', mode: 0o755, mtime: MTIME },
  { name: `${R}/a.txt`, type: 'file', mode: 0o644, mtime: MTIME, size: 5, data: 'hello' },
  { name: `${R}/bin.sh`, type: 'file', mode: 0o100755, mtime: MTIME, size: 0, data: '' }, // st_mode: type bits dropped
  { name: `${R}/sub`, type: 'dir', mode: 0o700, mtime: MTIME },
  { name: `${R}/sub/link`, type: 'symlink', mode: 0o777, mtime: MTIME, linkname: '../a.txt' },
  { name: `${R}/hard`, type: 'hardlink', mode: 0o644, mtime: MTIME, linkname: `${R}/a.txt` },
  { name: `${R}/${'a'.repeat(60)}/${'b'.repeat(60)}`, type: 'dir', mode: 0o750, mtime: MTIME }, // split too: its trailing slash does not survive, the type does
  { name: `${R}/${long100}`, type: 'file', mode: 0o600, mtime: MTIME, size: 3, data: 'abc' },
  { name: `${R}/${longSegment}`, type: 'file', mode: 0o644, mtime: MTIME, size: 700, data: 'x'.repeat(700) },
  { name: `${R}/${'d'.repeat(120)}`, type: 'dir', mode: 0o755, mtime: MTIME },
  { name: `${R}/long-link`, type: 'symlink', mode: 0o777, mtime: MTIME, linkname: longTarget },
  { name: `${R}/hard-long`, type: 'hardlink', mode: 0o644, mtime: MTIME, linkname: `${R}/${longSegment}` },
  { name: `${R}/ünïcödé.txt`, type: 'file', mode: 0o644, mtime: MTIME, size: 2, data: 'ok' },
];

function archive(header: (h: TarHeader) => Buffer): Buffer {
  const parts: Buffer[] = [];
  for (const { data, ...h } of members) {
    parts.push(header(h));
    if (h.type === 'file') parts.push(Buffer.from(data ?? ''), Buffer.alloc(padding(h.size ?? 0)));
  }
  parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

describe('tar-writer', () => {
  it('GNU tar lists and extracts what it writes: long names, link targets, hard links, uid/gid 0', () => {
    const file = path.join(tmp, 'a.tar');
    writeFileSync(file, archive(tarHeader));
    const listing = gnuTar('--full-time', '-tvf', file).trimEnd().split('\n');
    const t = '2025-10-09 08:53:20';
    expect(listing).toEqual([
      `drwxr-xr-x 0/0               0 ${t} ${R}/`,
      `-rw-r--r-- 0/0               5 ${t} ${R}/a.txt`,
      `-rwxr-xr-x 0/0               0 ${t} ${R}/bin.sh`,
      `drwx------ 0/0               0 ${t} ${R}/sub/`,
      `lrwxrwxrwx 0/0               0 ${t} ${R}/sub/link -> ../a.txt`,
      `hrw-r--r-- 0/0               0 ${t} ${R}/hard link to ${R}/a.txt`,
      `drwxr-x--- 0/0               0 ${t} ${R}/${'a'.repeat(60)}/${'b'.repeat(60)}`, // ustar prefix split (node-tar): the slash is gone, typeflag 5 stays
      `-rw------- 0/0               3 ${t} ${R}/${long100}`,
      `-rw-r--r-- 0/0             700 ${t} ${R}/${longSegment}`,
      `drwxr-xr-x 0/0               0 ${t} ${R}/${'d'.repeat(120)}/`,
      `lrwxrwxrwx 0/0               0 ${t} ${R}/long-link -> ${longTarget}`,
      `hrw-r--r-- 0/0               0 ${t} ${R}/hard-long link to ${R}/${longSegment}`,
      `-rw-r--r-- 0/0               2 ${t} ${R}/ünïcödé.txt`,
    ]);

    const out = path.join(tmp, 'out');
    mkdirSync(out);
    gnuTar('-xf', file, '-C', out);
    const at = (p: string) => path.join(out, R, p);
    expect(readFileSync(at('a.txt'), 'utf8')).toBe('hello');
    expect(statSync(at('hard')).ino).toBe(statSync(at('a.txt')).ino);
    expect(statSync(at('hard-long')).ino).toBe(statSync(at(longSegment)).ino);
    expect(readFileSync(at(longSegment), 'utf8')).toBe('x'.repeat(700));
    expect(readFileSync(at(long100), 'utf8')).toBe('abc');
    expect(readlinkSync(at('sub/link'))).toBe('../a.txt');
    expect(readlinkSync(at('long-link'))).toBe(longTarget);
    expect(lstatSync(at('d'.repeat(120))).isDirectory()).toBe(true);
    expect(statSync(at(`${'a'.repeat(60)}/${'b'.repeat(60)}`)).mode & 0o7777).toBe(0o750);
    expect(statSync(at('bin.sh')).mode & 0o7777).toBe(0o755);
    expect(statSync(at('a.txt')).mtimeMs).toBe(MTIME * 1000);
    expect(readFileSync(at('ünïcödé.txt'), 'utf8')).toBe('ok');
  });

  it('writeTarHeader writes the same bytes into a buffer, and refuses to overflow it', () => {
    const into = (h: TarHeader) => {
      const buf = Buffer.alloc(8192, 0xff); // garbage around: the header block is zero-filled first
      const end = writeTarHeader(h, buf, 100);
      return buf.subarray(100, end);
    };
    expect(archive(into).equals(archive(tarHeader))).toBe(true);
    const h: TarHeader = { name: `${R}/${longSegment}`, type: 'file', mode: 0o644, mtime: MTIME, size: 1 };
    expect(() => writeTarHeader(h, Buffer.alloc(1024), 0)).toThrow(RangeError); // pax header + block: 1536 bytes
    expect(() => writeTarHeader({ ...h, name: 'short' }, Buffer.alloc(1000), 600)).toThrow(RangeError);
  });

  it('sizes of 8 GiB and more go into a pax header', () => {
    const size = 9 * 1024 ** 3 + 3;
    const h = tarHeader({ name: `${R}/huge.bin`, type: 'file', mode: 0o644, mtime: MTIME, size });
    expect(h.length).toBe(512 * 3);
    expect(h.subarray(512, 1024).toString('utf8')).toMatch(new RegExp(`^\\d+ path=${R}/huge.bin\\n(\\d+ \\w+=\\S+\\n)*\\d+ size=${size}\\n`));
    // a sparse archive: GNU tar seeks over the data
    const file = path.join(tmp, 'huge.tar');
    const fd = openSync(file, 'w');
    try {
      writeSync(fd, h, 0, h.length, 0);
      writeSync(fd, END_OF_ARCHIVE, 0, END_OF_ARCHIVE.length, h.length + size + padding(size));
    } finally {
      closeSync(fd);
    }
    try {
      expect(gnuTar('--full-time', '-tvf', file)).toBe(`-rw-r--r-- 0/0      ${size} 2025-10-09 08:53:20 ${R}/huge.bin\n`);
    } finally {
      rmSync(file, { force: true });
    }
  });
});
