/**
 * `compress: auto` decides by the measured link, not by the address: through a local relay that
 * behaves like a slow WAN link (bench/relay.mjs: 20 ms round trip, 5 Mbit/s) the archive is
 * compressed although the host is 127.0.0.1; straight to the same sshd on loopback it is not.
 */
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelay, type Relay } from '../../bench/relay.mjs';
import { cli, current, newProject, server } from '../helpers/deploy-env.js';
import { startSshd, type SshdFixture } from '../helpers/sshd.js';

let tmp: string;
let f: SshdFixture;
let relay: Relay;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-compress-'));
  f = await startSshd({ servers: [server('web1')] });
  relay = await startRelay({ targetPort: f.servers[0].port, rttMs: 20, mbit: 5 });
  // `slow`: the same server, reached through the relay on 127.0.0.1
  appendFileSync(f.sshConfig, `\nHost slow\n  HostName 127.0.0.1\n  Port ${relay.port}\n  User ${f.user}\n  IdentityFile ${f.clientKey}\n  IdentitiesOnly yes\n`);
  appendFileSync(f.knownHosts, `[127.0.0.1]:${relay.port} ${f.servers[0].hostKeyPublic}\n`);
});
afterAll(async () => {
  await relay?.close();
  await f?.stopAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** ~600 KB of text: gzip shrinks it several times */
function files(): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < 30; i++) out[`lib/m${i}.js`] = Array.from({ length: 400 }, (_, j) => `export const value${i}_${j} = compute(${j}, "release");`).join('\n');
  return out;
}
const appBytes = (x: Record<string, string>) => Object.values(x).reduce((a, s) => a + Buffer.byteLength(s), 0);

interface JsonHost {
  host: string;
  compression?: { gzip: boolean; mode: string; reason: string; link?: { rtt_ms: number; mbit: number } };
}

async function deploy(host: string, root: string, extra = ''): Promise<{ host: JsonHost; stderr: string; sent: number }> {
  const app = files();
  const p = newProject({ hosts: [{ host, path: root }] }, app, tmp);
  if (extra) appendFileSync(p.config, extra);
  const before = relay.stats.bytesUp;
  const r = await cli(f.home, p.dir, ['deploy', '--json', '-v'], { env: { EE_DEPLOY_CACHE_DIR: path.join(tmp, `cache-${host}-${Date.now()}`) } });
  expect(r.code, r.stderr).toBe(0);
  expect(readFileSync(path.join(root, 'current/lib/m3.js'), 'utf8')).toBe(app['lib/m3.js']);
  expect(current(root)).toBeTruthy();
  const doc = JSON.parse(r.stdout) as { hosts: JsonHost[] };
  return { host: doc.hosts[0], stderr: r.stderr, sent: relay.stats.bytesUp - before };
}

describe('compress: auto', () => {
  it('through a slow relay on 127.0.0.1: measured, compressed, and said so', async () => {
    const { host, stderr, sent } = await deploy('slow', path.join(tmp, 'slow'));
    expect(host.compression).toMatchObject({ gzip: true, mode: 'auto' });
    expect(host.compression!.link!.rtt_ms).toBeGreaterThanOrEqual(15);
    expect(host.compression!.link!.mbit).toBeLessThan(50);
    expect(stderr).toMatch(/slow: release archive gzip-compressed \(compress: auto, measured [\d.]+ ms round trip, \d+ Mbit\/s: below 200 Mbit\/s\)/);
    // everything that crossed the relay: handshake, the probe (at most two bursts of 256 KiB), the
    // execs and a compressed archive; the uncompressed app alone is larger than the rest
    expect(sent - 2 * 256 * 1024).toBeLessThan(appBytes(files()) / 2);
  });

  it('straight to sshd on loopback: a fast link, not compressed', async () => {
    const { host, stderr } = await deploy('web1', path.join(tmp, 'fast'));
    expect(host.compression).toMatchObject({ gzip: false, mode: 'auto' });
    expect(host.compression!.link!.mbit).toBeGreaterThanOrEqual(200);
    expect(stderr).toMatch(/web1: release archive uncompressed \(compress: auto, measured .*: at or above 200 Mbit\/s\)/);
  });

  it('compress: off on the environment wins over a slow link', async () => {
    const { host, sent } = await deploy('slow', path.join(tmp, 'slow-off'), '    compress: off\n');
    expect(host.compression).toMatchObject({ gzip: false, mode: 'off', reason: 'compress: off' });
    expect(sent).toBeGreaterThan(appBytes(files()));
  });
});
