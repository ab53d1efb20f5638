/**
 * Blue-green on one host: the new release starts on the idle port (cwd = the release), answers
 * its health path there (requested through the SSH connection, so the port stays on the host's
 * loopback), then the upstream file is switched to it and nginx reloaded. The old process keeps
 * running until its delayed stop (`drain_timeout`), so a rollback in that time only switches
 * the upstream back. A failed start or health check stops the new process and leaves the
 * upstream untouched.
 */
import { request } from 'node:http';
import type { Duplex } from 'node:stream';
import type { BlueGreenConfig } from '../config/traffic-schema.js';
import { DeployError } from '../errors.js';
import {
  bgFailure,
  blueGreenAliveScript,
  blueGreenCancelStopScript,
  blueGreenScheduleStopScript,
  blueGreenStartScript,
  blueGreenStateScript,
  blueGreenStopNowScript,
  parseAlive,
  parseBlueGreenState,
  parseStartedPid,
  upstreamLine,
  type BlueGreenState,
} from '../remote/traffic/blue-green.js';
import { lbFailure, writeUpstreamScript } from '../remote/traffic/lb.js';
import type { Transport } from '../transport/types.js';
import { sleep } from '../util/sleep.js';
import { lastLine } from '../util/text.js';
import { nginxWorkers, waitNginxReload } from './nginx-wait.js';

export interface BlueGreenSwitch {
  host: string;
  /** the port that served before (undefined on the first blue-green deploy) */
  from?: number;
  /** the release the old port runs */
  fromRelease?: string;
  to: number;
  release: string;
  pid: number;
}

/** One GET of `path` on 127.0.0.1:port of the host; resolves with the status (0: no answer). */
export function probe(t: Transport, port: number, path: string, timeoutMs: number): Promise<{ status: number; detail: string }> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (status: number, detail: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ status, detail });
    };
    const timer = setTimeout(() => {
      req.destroy();
      done(0, `no answer within ${timeoutMs} ms`);
    }, timeoutMs);
    let conn: Duplex | undefined;
    const req = request({
      host: '127.0.0.1',
      port,
      path,
      method: 'GET',
      headers: { connection: 'close', 'user-agent': 'ee-deploy blue-green check' },
      createConnection: ((_o: unknown, cb: (e: Error | null, s?: Duplex) => void) => {
        t.connect!({ port }).then(
          (s) => {
            conn = s;
            cb(null, s);
          },
          (e: Error) => cb(e),
        );
        return undefined;
      }) as never,
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode ?? 0, `HTTP ${res.statusCode}`));
      res.on('error', () => done(res.statusCode ?? 0, `HTTP ${res.statusCode}`));
    });
    req.on('error', (e) => {
      conn?.destroy();
      done(0, /refused|open failed|Connection refused/i.test(e.message) ? 'connection refused' : e.message);
    });
    req.end();
  });
}

export class BlueGreenHost {
  constructor(
    readonly t: Transport,
    readonly root: string,
    readonly cfg: BlueGreenConfig,
    private readonly o: { signal?: AbortSignal; log?: (line: string) => void } = {},
  ) {}

  async state(): Promise<BlueGreenState> {
    const r = await this.t.exec(blueGreenStateScript(this.root, this.cfg.upstream, this.cfg.ports), { readOnly: true });
    const st = parseBlueGreenState(r.stdout);
    if (r.code !== 0 || !st) throw new DeployError(`${this.t.host}: blue-green: cannot read the state: ${lastLine(r.stderr) || `exit ${r.code}`}`, { host: this.t.host, step: 'blue-green' });
    return st;
  }

  private fail(what: string, stderr: string, code: number | null): never {
    throw new DeployError(`${this.t.host}: blue-green: ${what}: ${bgFailure(stderr) ?? lbFailure(stderr) ?? (lastLine(stderr) || `exit ${code ?? 'signal'}`)}`, { host: this.t.host, step: 'blue-green' });
  }

  /** the port not in the upstream file (the first port when none is) */
  idlePort(st: BlueGreenState): number {
    return this.cfg.ports.find((p) => p !== st.active) ?? this.cfg.ports[0];
  }

  /**
   * Starts `release` on the idle port and waits until its health path answers 2xx (bounded by
   * `start_timeout`). On failure the new process is stopped and the error says why (with the
   * last line of its log); nothing else changed.
   */
  async start(release: string, st?: BlueGreenState): Promise<BlueGreenSwitch> {
    st ??= await this.state();
    const port = this.idlePort(st);
    const from = st.active !== undefined && this.cfg.ports.includes(st.active) ? st.active : undefined;
    const fromRelease = st.ports.find((p) => p.port === from)?.release;
    const r = await this.t.exec(blueGreenStartScript(this.root, { port, release, start: this.cfg.start, stop: this.cfg.stop }));
    const pid = parseStartedPid(r.stdout);
    if (r.code !== 0 || pid === undefined) this.fail(`starting ${release} on port ${port} failed`, r.stderr, r.code);
    this.o.log?.(`blue-green: started ${release} on port ${port} (pid ${pid}); checking http://127.0.0.1:${port}${this.cfg.health}`);
    let why = await this.waitHealthy(port);
    // the answer must have come from the process just started (it may have died right after, e.g. port in use)
    if (!why && parseAlive((await this.t.exec(blueGreenAliveScript(this.root, port), { readOnly: true })).stdout) !== true) why = 'the process exited after answering';
    if (why) {
      const log = await this.t.exec(blueGreenAliveScript(this.root, port), { readOnly: true });
      await this.stopNow(port).catch(() => {});
      const tail = lastLine(log.stderr);
      throw new DeployError(`${this.t.host}: blue-green: ${release} on port ${port} did not become healthy: ${why}${tail ? ` (log: ${tail})` : ''}; the upstream was not touched`, { host: this.t.host, step: 'blue-green start' });
    }
    return { host: this.t.host, from, fromRelease, to: port, release, pid: pid! };
  }

  /** undefined when healthy, else the reason */
  private async waitHealthy(port: number): Promise<string | undefined> {
    const deadline = Date.now() + this.cfg.start_timeout;
    let last = 'no answer';
    for (let i = 0; ; i++) {
      if (this.o.signal?.aborted) return 'interrupted';
      const left = deadline - Date.now();
      const res = await probe(this.t, port, this.cfg.health, Math.max(200, Math.min(5000, left)));
      if (res.status >= 200 && res.status <= 299) return undefined;
      last = res.detail;
      // a process that died will not answer: stop waiting for it
      if (i % 5 === 4) {
        const a = await this.t.exec(blueGreenAliveScript(this.root, port), { readOnly: true });
        if (parseAlive(a.stdout) === false) return `the process exited (${last})`;
      }
      if (Date.now() >= deadline) return `${last} after ${this.cfg.start_timeout} ms`;
      await sleep(Math.min(200, Math.max(0, deadline - Date.now())), this.o.signal);
    }
  }

  /** points the upstream file at `port` and reloads (the script puts the old file back if the reload fails) */
  async switchTo(port: number): Promise<void> {
    const before = await nginxWorkers(this.t);
    const r = await this.t.exec(writeUpstreamScript(this.cfg.upstream, upstreamLine(port), this.cfg.reload));
    if (r.code !== 0) this.fail(`switching ${this.cfg.upstream} to port ${port} failed`, r.stderr, r.code);
    // the reload is asynchronous: wait until it is in force (the old workers' requests done), so
    // the process switched away from is no longer sent anything when it is stopped
    const w = await waitNginxReload(this.t, before, { timeoutMs: this.cfg.drain_timeout, signal: this.o.signal });
    this.o.log?.(`blue-green: ${this.cfg.upstream} -> 127.0.0.1:${port}, reloaded${w.timedOut ? ` (nginx's previous workers still running after ${w.waitedMs} ms)` : ` (in force after ${w.waitedMs} ms)`}`);
  }

  async scheduleStop(port: number): Promise<void> {
    const r = await this.t.exec(blueGreenScheduleStopScript(this.root, port, this.cfg.stop, this.cfg.drain_timeout));
    if (r.code !== 0) this.fail(`scheduling the stop of port ${port} failed`, r.stderr, r.code);
  }

  async stopNow(port: number): Promise<void> {
    const r = await this.t.exec(blueGreenStopNowScript(this.root, port, this.cfg.stop));
    if (r.code !== 0) this.fail(`stopping the process on port ${port} failed`, r.stderr, r.code);
  }

  /** cancels a pending stop; true when the process still runs */
  async keep(port: number): Promise<boolean> {
    const r = await this.t.exec(blueGreenCancelStopScript(this.root, port));
    if (r.code !== 0) this.fail(`cancelling the stop of port ${port} failed`, r.stderr, r.code);
    return parseAlive(r.stdout) === true;
  }

  /**
   * Deploy: start the release on the idle port, check it, switch. The old process keeps running
   * (the caller schedules its stop once the whole deploy succeeded, or reverts).
   */
  async deploy(release: string): Promise<BlueGreenSwitch> {
    const sw = await this.start(release);
    try {
      await this.switchTo(sw.to);
    } catch (e) {
      await this.stopNow(sw.to).catch(() => {});
      throw e;
    }
    return sw;
  }

  /** after a successful run: the old process stops after drain_timeout */
  async finish(sw: BlueGreenSwitch): Promise<void> {
    if (sw.from !== undefined) await this.scheduleStop(sw.from);
  }

  /** undo a switch: back to the old process (still running), the new one stopped */
  async revert(sw: BlueGreenSwitch): Promise<void> {
    if (sw.from !== undefined && (await this.keep(sw.from))) await this.switchTo(sw.from);
    else if (sw.from !== undefined) throw new DeployError(`${this.t.host}: blue-green: the old process on port ${sw.from} is gone; port ${sw.to} keeps serving`, { host: this.t.host, step: 'blue-green revert' });
    await this.stopNow(sw.to);
  }

  /**
   * Rollback to `release`: when the old process still runs it (inside drain_timeout), cancel its
   * stop and switch back; otherwise start it like a deploy. The process left behind stops after
   * drain_timeout.
   */
  async rollback(release: string): Promise<BlueGreenSwitch & { reused: boolean }> {
    const st = await this.state();
    const warm = st.ports.find((p) => p.port !== st.active && p.alive && p.release === release);
    if (warm && (await this.keep(warm.port))) {
      await this.switchTo(warm.port);
      const from = st.active !== undefined && this.cfg.ports.includes(st.active) ? st.active : undefined;
      return { host: this.t.host, from, fromRelease: st.ports.find((p) => p.port === from)?.release, to: warm.port, release, pid: 0, reused: true };
    }
    return { ...(await this.deploy(release)), reused: false };
  }
}
