/**
 * A real Prometheus Pushgateway (Debian's prometheus-pushgateway) on a 127.0.0.1 port, started by
 * the test from the command line only (no persistence file, no system service).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from './sshd.js';

export const PUSHGATEWAY = process.env.PUSHGATEWAY_BIN ?? '/usr/bin/prometheus-pushgateway';

export interface Pushgateway {
  url: string;
  /** the scrape page: every pushed group */
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

export async function startPushgateway(): Promise<Pushgateway> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc: ChildProcess = spawn(PUSHGATEWAY, [`--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr!.setEncoding('utf8').on('data', (d) => (log += d));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`pushgateway exited: ${log}`);
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`pushgateway did not become ready: ${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    metrics: async () => (await fetch(`${url}/metrics`)).text(),
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  };
}
