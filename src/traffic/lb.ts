/**
 * Load-balancer drivers: take hosts out of rotation before their switch (drain, then wait until
 * their sessions end or `drain_timeout`) and put them back once their post checks passed (ready).
 *
 *   haproxy  runtime API on the admin socket of the LB host, reached through SSH stream forwarding
 *            (nothing to install on the LB host); when sshd refuses it (AllowStreamLocalForwarding
 *            no), through socat or `nc -U` on the LB host. Waits on `show stat`'s scur.
 *   nginx    rewrites the upstream file on the LB host (drained servers marked `down`) and runs the
 *            reload command; waits until no worker is "shutting down" (requests in flight on the
 *            old configuration have ended).
 *   command  the user's drain/ready commands on this machine, `{host}` = the host as written in
 *            the config; the drain command is expected to return once the host is drained.
 */
import type { Duplex } from 'node:stream';
import { execa } from 'execa';
import type { ResolvedHost } from '../config/resolve.js';
import type { LoadBalancerConfig } from '../config/traffic-schema.js';
import { ConnectionError, DeployError, EeError } from '../errors.js';
import {
  fillPlaceholders,
  HAPROXY_SHOW_STAT,
  haproxyAnswerError,
  haproxySetState,
  haproxySocketToolScript,
  lbFailure,
  nginxUpstreamText,
  parseHaproxyStat,
  writeUpstreamScript,
  type ServerState,
} from '../remote/traffic/lb.js';
import { openTransport } from '../transport/open.js';
import type { Transport } from '../transport/types.js';
import { sleep } from '../util/sleep.js';
import { lastLine } from '../util/text.js';
import { nginxWorkers, waitNginxReload } from './nginx-wait.js';

export interface DrainReport {
  host: string;
  /** ms from the drain request until no session was left (or the timeout) */
  waitedMs: number;
  /** sessions still open when the wait ended (0 = drained) */
  left: number;
  timedOut: boolean;
}

export interface LoadBalancer {
  readonly type: LoadBalancerConfig['type'];
  drain(hosts: ResolvedHost[], o?: { signal?: AbortSignal }): Promise<DrainReport[]>;
  ready(hosts: ResolvedHost[]): Promise<void>;
  close(): Promise<void>;
}

export interface LbOptions {
  interactive: boolean;
  dryRun?: boolean;
  /** dry run: where the planned actions are printed */
  print?: (text: string) => void;
  /** how often the drain wait polls (default 200 ms) */
  pollMs?: number;
  /** the environment's `ssh_client`: the load balancer's host is reached like the app hosts */
  sshClient?: 'builtin' | 'openssh';
}

function lbHost(c: { host: string; user?: string; port?: number }, sshClient: LbOptions['sshClient']): ResolvedHost {
  return { name: c.host, id: c.host, local: c.host === 'local', user: c.user, port: c.port, path: '.', roles: [], tags: [], ...(sshClient ? { sshClient } : {}) };
}

function serverOf(map: Record<string, string>, h: ResolvedHost, what: string): string {
  const s = map[h.name] ?? map[h.id];
  if (s === undefined) throw new DeployError(`load_balancer: no entry for host ${h.name} in load_balancer.servers (${what})`);
  return s;
}

export async function openLoadBalancer(c: LoadBalancerConfig, o: LbOptions): Promise<LoadBalancer> {
  const print = o.print ?? (() => {});
  if (c.type === 'command') return new CommandLb(c, o.dryRun ? print : undefined);
  const t = o.dryRun ? undefined : await openTransport(lbHost(c, o.sshClient), { interactive: o.interactive });
  if (c.type === 'haproxy') return new HaproxyLb(c, t, print, o.pollMs ?? 200);
  return new NginxLb(c, t, print, o.pollMs ?? 200);
}

async function waitDrained(hosts: ResolvedHost[], timeoutMs: number, pollMs: number, signal: AbortSignal | undefined, sessions: (h: ResolvedHost) => Promise<number>): Promise<DrainReport[]> {
  const start = Date.now();
  return Promise.all(
    hosts.map(async (h) => {
      for (;;) {
        const left = await sessions(h);
        const waitedMs = Date.now() - start;
        if (left === 0) return { host: h.id, waitedMs, left, timedOut: false };
        if (waitedMs >= timeoutMs || signal?.aborted) return { host: h.id, waitedMs, left, timedOut: true };
        await sleep(Math.min(pollMs, Math.max(1, timeoutMs - waitedMs)), signal).catch(() => {});
      }
    }),
  );
}

class HaproxyLb implements LoadBalancer {
  readonly type = 'haproxy' as const;
  /** sshd refused stream forwarding once: use the socat / nc fallback from then on */
  private viaTool = false;
  constructor(
    private readonly c: Extract<LoadBalancerConfig, { type: 'haproxy' }>,
    private readonly t: Transport | undefined,
    private readonly print: (s: string) => void,
    private readonly pollMs: number,
  ) {}

  /** one runtime API line; resolves with HAProxy's answer */
  async runtime(line: string): Promise<string> {
    const t = this.t!;
    if (t.connect && !this.viaTool) {
      let stream: Duplex | undefined;
      try {
        stream = await t.connect({ path: this.c.socket });
      } catch (e) {
        // a refused channel (forwarding disabled, or no such socket): try the tools on the host
        if (!(e instanceof ConnectionError) || !/open failed|prohibited|refused|No such file/i.test(e.message)) throw e;
        this.viaTool = true;
      }
      if (stream) {
        try {
          return await exchange(stream, line);
        } catch (e) {
          // a client that forwards through a local socket (ssh_client: openssh) learns of a
          // refused channel only here, before any answer: the same fallback
          if (!(e instanceof ConnectionError) || !/open failed/i.test(e.message)) throw e;
          this.viaTool = true;
        }
      }
    }
    const r = await t.exec(haproxySocketToolScript(this.c.socket, line));
    if (r.code !== 0) throw new DeployError(`load balancer ${this.c.host}: ${lbFailure(r.stderr) ?? (lastLine(r.stderr) || `cannot reach ${this.c.socket} (exit ${r.code})`)}`);
    return r.stdout;
  }

  private async set(hosts: ResolvedHost[], state: ServerState): Promise<void> {
    for (const h of hosts) {
      const line = haproxySetState(this.c.backend, serverOf(this.c.servers, h, 'haproxy server name'), state);
      if (!this.t) {
        this.print(`[dry-run] load balancer ${this.c.host}: ${line}`);
        continue;
      }
      const err = haproxyAnswerError(await this.runtime(line));
      if (err) throw new DeployError(`load balancer ${this.c.host}: "${line}" failed: ${err}`);
    }
  }

  async drain(hosts: ResolvedHost[], o: { signal?: AbortSignal } = {}): Promise<DrainReport[]> {
    await this.set(hosts, 'drain');
    if (!this.t) return hosts.map((h) => ({ host: h.id, waitedMs: 0, left: 0, timedOut: false }));
    return waitDrained(hosts, this.c.drain_timeout, this.pollMs, o.signal, async (h) => {
      const server = serverOf(this.c.servers, h, 'haproxy server name');
      const st = parseHaproxyStat(await this.runtime(HAPROXY_SHOW_STAT), this.c.backend, server);
      if (!st) throw new DeployError(`load balancer ${this.c.host}: no server ${this.c.backend}/${server} in "show stat"`);
      return st.scur;
    });
  }

  ready(hosts: ResolvedHost[]): Promise<void> {
    return this.set(hosts, 'ready');
  }

  async close(): Promise<void> {
    await this.t?.close().catch(() => {});
  }
}

/** writes one line, reads until HAProxy closes the connection (it does after each command) */
function exchange(s: Duplex, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (out += d));
    s.once('error', reject);
    s.once('close', () => resolve(out));
    s.once('end', () => resolve(out));
    s.write(`${line}\n`);
  });
}

class NginxLb implements LoadBalancer {
  readonly type = 'nginx' as const;
  private readonly drained = new Set<string>();
  constructor(
    private readonly c: Extract<LoadBalancerConfig, { type: 'nginx' }>,
    private readonly t: Transport | undefined,
    private readonly print: (s: string) => void,
    private readonly pollMs: number,
  ) {}

  private async write(): Promise<void> {
    const servers = Object.entries(this.c.servers).map(([name, address]) => ({ address, down: this.drained.has(name) }));
    const text = nginxUpstreamText(servers);
    if (!this.t) {
      this.print(`[dry-run] load balancer ${this.c.host}: write ${this.c.upstream}: ${text.trim().replace(/\n/g, ' ')}; ${this.c.reload}`);
      return;
    }
    const r = await this.t.exec(writeUpstreamScript(this.c.upstream, text, this.c.reload));
    if (r.code !== 0) throw new DeployError(`load balancer ${this.c.host}: ${lbFailure(r.stderr) ?? (lastLine(r.stderr) || `exit ${r.code}`)}`);
  }

  async drain(hosts: ResolvedHost[], o: { signal?: AbortSignal } = {}): Promise<DrainReport[]> {
    for (const h of hosts) this.drained.add(Object.hasOwn(this.c.servers, h.name) ? h.name : (serverOf(this.c.servers, h, 'upstream address'), h.id));
    if (!this.t) {
      await this.write();
      return hosts.map((h) => ({ host: h.id, waitedMs: 0, left: 0, timedOut: false }));
    }
    const before = await nginxWorkers(this.t);
    await this.write();
    // in force once the reloaded master's earlier workers are gone: they finish their requests first
    const w = await waitNginxReload(this.t, before, { timeoutMs: this.c.drain_timeout, pollMs: this.pollMs, signal: o.signal });
    return hosts.map((h) => ({ host: h.id, ...w }));
  }

  async ready(hosts: ResolvedHost[]): Promise<void> {
    for (const h of hosts) {
      this.drained.delete(h.name);
      this.drained.delete(h.id);
    }
    await this.write();
  }

  async close(): Promise<void> {
    await this.t?.close().catch(() => {});
  }
}

class CommandLb implements LoadBalancer {
  readonly type = 'command' as const;
  constructor(
    private readonly c: Extract<LoadBalancerConfig, { type: 'command' }>,
    private readonly dryPrint: ((s: string) => void) | undefined,
  ) {}

  private async run(which: 'drain' | 'ready', h: ResolvedHost, signal?: AbortSignal): Promise<void> {
    const line = fillPlaceholders(this.c[which], { host: h.name });
    if (this.dryPrint) return this.dryPrint(`[dry-run] local: load balancer ${which}: ${line}`);
    const r = await execa('sh', ['-c', line], { reject: false, timeout: which === 'drain' ? this.c.drain_timeout : 60_000, cancelSignal: signal, all: true });
    if (r.exitCode !== 0) {
      const why = r.timedOut ? `timed out after ${which === 'drain' ? this.c.drain_timeout : 60_000} ms` : `exit ${r.exitCode ?? r.signal}`;
      throw new DeployError(`load balancer ${which} command for ${h.name} failed: ${why}${r.all ? ` (${lastLine(String(r.all))})` : ''}`);
    }
  }

  async drain(hosts: ResolvedHost[], o: { signal?: AbortSignal } = {}): Promise<DrainReport[]> {
    const start = Date.now();
    await Promise.all(hosts.map((h) => this.run('drain', h, o.signal)));
    return hosts.map((h) => ({ host: h.id, waitedMs: Date.now() - start, left: 0, timedOut: false }));
  }

  async ready(hosts: ResolvedHost[]): Promise<void> {
    const errors: unknown[] = [];
    await Promise.all(hosts.map((h) => this.run('ready', h).catch((e) => errors.push(e))));
    if (errors.length) throw errors[0] instanceof EeError ? errors[0] : new DeployError(String(errors[0]));
  }

  async close(): Promise<void> {}
}
