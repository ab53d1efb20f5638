/**
 * Read-only commands end promptly on SIGTERM/SIGINT (exit 130), whatever they wait for, and so
 * do deploy, rollback, lock, unlock and maintenance while they connect (nothing has run yet): here a
 * host that accepts the TCP connection and never says a word (the SSH connect alone would wait
 * its full timeout, and a hung remote command for ever).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { CLI } from '../helpers/cli.js';
import { faultEnv } from './harness.js';

let silent: net.Server;
let port: number;
const sockets: net.Socket[] = [];
let dir: string;

beforeAll(async () => {
  silent = net.createServer((s) => sockets.push(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  port = (silent.address() as net.AddressInfo).port;
  dir = mkdtempSync(path.join(os.tmpdir(), 'ee-int-ro-'));
  mkdirSync(path.join(dir, 'app'));
  writeFileSync(path.join(dir, 'app', 'index.html'), 'x\n');
  writeFileSync(path.join(dir, 'ee-deploy.yaml'), ['project: ro', 'source: { dir: ./app }', 'environments:', '  prod:', `    hosts: [{ host: 127.0.0.1, port: ${port}, path: /srv/ro }]`, ''].join('\n'));
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => silent.close(r));
});

function runAndSignal(args: string[], sig: NodeJS.Signals, afterMs: number): Promise<{ code: number | null; stderr: string; exitMs: number }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: dir, env: faultEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    let sentAt = 0;
    setTimeout(() => {
      sentAt = Date.now();
      child.kill(sig);
    }, afterMs);
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(guard);
      resolve({ code, stderr, exitMs: Date.now() - sentAt });
    });
  });
}

describe('commands end promptly when interrupted', () => {
  for (const [cmd, sig] of [
    ['check', 'SIGTERM'],
    ['releases', 'SIGINT'],
    ['history', 'SIGTERM'],
    ['verify', 'SIGTERM'],
  ] as const) {
    it(`${cmd}, ${sig}: exit 130 within 2 s`, async () => {
      // by then the CLI is waiting for the silent host (its connect timeout is 15 s)
      const r = await runAndSignal([cmd], sig, 1500);
      expect(r.code, r.stderr).toBe(130);
      expect(r.exitMs).toBeLessThan(2000);
      expect(r.stderr).toContain(`error: interrupted by ${sig}`);
    }, 30_000);
  }

  // nothing has run on the host while it is being connected to: deploy and rollback stop there too
  for (const cmd of [['deploy', '--yes'], ['rollback', '--yes'], ['lock'], ['unlock'], ['maintenance', 'on']]) {
    it(`${cmd.join(' ')} while connecting, SIGTERM: exit 130 within 2 s, nothing changed`, async () => {
      const r = await runAndSignal(cmd, 'SIGTERM', 1500);
      expect(r.code, r.stderr).toBe(130);
      expect(r.exitMs).toBeLessThan(2000);
      expect(r.stderr).toContain('error: interrupted while connecting to 127.0.0.1; nothing was changed');
    }, 30_000);
  }
});
