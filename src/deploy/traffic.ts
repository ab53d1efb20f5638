/**
 * The deploy's traffic steps, around each wave's switch:
 *   before the switch   maintenance on (once, `deploy --maintenance`), the wave's hosts drained
 *                       at the load balancer, and for `strategy: blue_green` the new release
 *                       started on each host's idle port, checked there, and the upstream switched
 *   after post checks   the wave's hosts made ready at the load balancer
 *   success             maintenance off, old blue-green processes stopped after drain_timeout
 *   failure             blue-green hosts back on their old process (before the rollback's own
 *                       checks), then, once `current` is settled, every drained host ready again
 *                       and maintenance off; what cannot be undone is a warning naming the way out
 * The state lives beside the run (a WeakMap), so the pipeline only calls these five functions.
 */
import type { ResolvedConfig } from '../config/resolve.js';
import { DeployError, EeError } from '../errors.js';
import type { Reporter } from '../ui/reporter.js';
import { BlueGreenHost, type BlueGreenSwitch } from '../traffic/blue-green.js';
import { openLoadBalancer, type LoadBalancer } from '../traffic/lb.js';
import { maintenanceDoc, maintenanceOnHost } from '../traffic/maintenance.js';
import type { HostSession } from './session.js';
import { forEachLimited } from '../util/concurrency.js';

/** what these steps need from a run (deploy's Run has all of it) */
export interface TrafficRun {
  o: { config: ResolvedConfig; reporter: Reporter; dryRun?: boolean; interactive: boolean; signal?: AbortSignal; maintenance?: boolean };
  id: string;
  user: string;
  warnings: string[];
  sessions: { hosts: HostSession[] };
}

interface State {
  lb?: LoadBalancer;
  /** drained at the load balancer and not made ready yet */
  drained: HostSession[];
  /** hosts where this run turned maintenance on */
  maintenance: HostSession[];
  /** blue-green switches made by this run (undone on failure) */
  switches: Map<HostSession, BlueGreenSwitch>;
  bg: Map<HostSession, BlueGreenHost>;
  drainWaits: { host: string; waitedMs: number; left: number; timedOut: boolean }[];
}

const states = new WeakMap<TrafficRun, State>();

function stateOf(run: TrafficRun): State {
  let st = states.get(run);
  if (!st) states.set(run, (st = { drained: [], maintenance: [], switches: new Map(), bg: new Map(), drainWaits: [] }));
  return st;
}

/** drain waits measured so far (for the result and the report) */
export function drainWaits(run: TrafficRun): State['drainWaits'] {
  return stateOf(run).drainWaits;
}

function warn(run: TrafficRun, text: string): void {
  run.warnings.push(text);
  run.o.reporter.warn(text);
}

function bgOf(run: TrafficRun, s: HostSession): BlueGreenHost {
  const st = stateOf(run);
  let b = st.bg.get(s);
  if (!b) {
    const cfg = run.o.config.env.blue_green!;
    st.bg.set(s, (b = new BlueGreenHost(s.t, s.host.path, cfg, { signal: run.o.signal, log: (l) => run.o.reporter.info(`${s.host.id}: ${l}`) })));
  }
  return b;
}

export async function beforeSwitch(run: TrafficRun, hosts: HostSession[]): Promise<void> {
  const { o } = run;
  const st = stateOf(run);
  const env = o.config.env;
  if (o.maintenance && st.maintenance.length === 0) {
    if (o.dryRun) o.reporter.info(`[dry-run] maintenance on (every host) before the switch`);
    else {
      const doc = maintenanceDoc({ user: run.user, message: `Deploying release ${run.id}` });
      await forEachLimited(run.sessions.hosts, env.max_parallel, async (s) => {
        await maintenanceOnHost(s.t, s.host.path, 'on', doc);
        st.maintenance.push(s);
      });
      o.reporter.info(`maintenance on (${st.maintenance.length} host(s))`);
    }
  }
  if (env.load_balancer) {
    st.lb ??= await openLoadBalancer(env.load_balancer, { interactive: o.interactive, dryRun: o.dryRun, print: (t) => o.reporter.info(t), ...(env.ssh_client ? { sshClient: env.ssh_client } : {}) });
    const step = o.reporter.step(`draining ${hosts.map((s) => s.host.id).join(', ')} at the load balancer (${env.load_balancer.type})`);
    st.drained.push(...hosts);
    const reports = await st.lb.drain(hosts.map((s) => s.host), { signal: o.signal }).catch((e: unknown) => {
      step.fail('drain failed');
      throw e;
    });
    st.drainWaits.push(...reports);
    const late = reports.filter((r) => r.timedOut);
    step.succeed(`drained ${hosts.map((s) => s.host.id).join(', ')} (waited ${Math.max(0, ...reports.map((r) => r.waitedMs))} ms)`);
    for (const r of late) warn(run, `${r.host}: ${r.left} session(s) still open after drain_timeout (${env.load_balancer.drain_timeout} ms); switching anyway`);
  }
  if (env.strategy === 'blue_green' && env.blue_green) {
    if (o.dryRun) {
      o.reporter.info(`[dry-run] blue-green: start ${run.id} on the idle port of ${hosts.map((s) => s.host.id).join(', ')}, check ${env.blue_green.health}, switch ${env.blue_green.upstream}, ${env.blue_green.reload}`);
      return;
    }
    const errors: EeError[] = [];
    await forEachLimited(hosts, env.max_parallel, async (s) => {
      try {
        st.switches.set(s, await bgOf(run, s).deploy(run.id));
      } catch (e) {
        errors.push(e instanceof EeError ? e : new DeployError(`${s.host.id}: blue-green: ${(e as Error).message}`, { host: s.host.id, step: 'blue-green' }));
      }
    });
    if (errors.length) throw errors[0];
  }
}

/** the wave passed its post checks: back into rotation */
export async function afterChecks(run: TrafficRun, hosts: HostSession[]): Promise<void> {
  const st = stateOf(run);
  if (!st.lb) return;
  const ready = st.drained.filter((s) => hosts.includes(s));
  if (ready.length === 0) return;
  await st.lb.ready(ready.map((s) => s.host));
  st.drained = st.drained.filter((s) => !ready.includes(s));
  run.o.reporter.info(`ready at the load balancer: ${ready.map((s) => s.host.id).join(', ')}`);
}

/** every wave done and checked */
export async function onSuccess(run: TrafficRun): Promise<void> {
  const st = stateOf(run);
  for (const [s, sw] of st.switches) {
    await bgOf(run, s)
      .finish(sw)
      .catch((e: Error) => warn(run, `${s.host.id}: ${e.message}; stop the old process on port ${sw.from} by hand`));
  }
  st.switches.clear();
  await maintenanceOff(run);
  await st.lb?.close();
}

/** a failure, before the rollback of `current`: blue-green hosts back on the process they had */
export async function revertSwitches(run: TrafficRun): Promise<void> {
  const st = stateOf(run);
  for (const [s, sw] of st.switches) {
    await bgOf(run, s)
      .revert(sw)
      .catch((e: Error) => warn(run, `${s.host.id}: blue-green revert failed: ${e.message}`));
  }
  st.switches.clear();
}

/**
 * A failure, after the rollback: drained hosts ready again (on the release they ended on),
 * maintenance off. What could not be undone is also added to the run's error (one line).
 */
export async function onFailure(run: TrafficRun, err?: unknown): Promise<void> {
  const before = run.warnings.length;
  const st = stateOf(run);
  if (st.lb && st.drained.length) {
    const hosts = st.drained;
    await st.lb
      .ready(hosts.map((s) => s.host))
      .then(() => run.o.reporter.info(`ready at the load balancer again: ${hosts.map((s) => s.host.id).join(', ')}`))
      .catch((e: Error) => warn(run, `could not make ${hosts.map((s) => s.host.id).join(', ')} ready at the load balancer again: ${e.message}`));
    st.drained = [];
  }
  await maintenanceOff(run);
  await st.lb?.close();
  const notes = run.warnings.slice(before);
  if (notes.length && err instanceof EeError) err.message += `; ${notes.join('; ')}`;
}

async function maintenanceOff(run: TrafficRun): Promise<void> {
  const st = stateOf(run);
  if (st.maintenance.length === 0) return;
  const failed: string[] = [];
  await forEachLimited([...st.maintenance], run.o.config.env.max_parallel, async (s) => {
    try {
      await maintenanceOnHost(s.t, s.host.path, 'off');
    } catch (e) {
      failed.push(`${s.host.id} (${(e as Error).message})`);
    }
  });
  st.maintenance = [];
  if (failed.length) warn(run, `maintenance is still ON on ${failed.join(', ')}: run \`ee-deploy maintenance off\``);
  else run.o.reporter.info('maintenance off');
}


type BgOptions = { config: ResolvedConfig; reporter: Reporter; dryRun?: boolean; signal?: AbortSignal };

/**
 * `rollback` with `strategy: blue_green`, before `current` moves: each host's upstream goes to a
 * process running the target release: the old one when it still runs (inside drain_timeout; its
 * pending stop is cancelled), else one started like a deploy. All hosts or none: a host that
 * fails puts the others back and the rollback fails with nothing changed.
 */
export async function blueGreenRollback(o: BgOptions, hosts: { s: HostSession; to: string }[]): Promise<Map<HostSession, BlueGreenSwitch>> {
  const done = new Map<HostSession, BlueGreenSwitch>();
  const cfg = o.config.env.blue_green;
  if (o.config.env.strategy !== 'blue_green' || !cfg) return done;
  if (o.dryRun) {
    o.reporter.info(`[dry-run] blue-green: switch ${cfg.upstream} back to the process running the target release (started if it no longer runs), ${cfg.reload}`);
    return done;
  }
  const errors: EeError[] = [];
  await forEachLimited(hosts, o.config.env.max_parallel, async ({ s, to }) => {
    const bg = new BlueGreenHost(s.t, s.host.path, cfg, { signal: o.signal, log: (l) => o.reporter.info(`${s.host.id}: ${l}`) });
    try {
      const sw = await bg.rollback(to);
      done.set(s, sw);
      o.reporter.info(sw.reused ? `${s.host.id}: blue-green: port ${sw.to} still running ${to}: switched back to it (its stop cancelled)` : `${s.host.id}: blue-green: ${to} started on port ${sw.to}`);
    } catch (e) {
      errors.push(e instanceof EeError ? e : new DeployError(`${s.host.id}: blue-green: ${(e as Error).message}`, { host: s.host.id }));
    }
  });
  if (errors.length) {
    for (const [s, sw] of done) await new BlueGreenHost(s.t, s.host.path, cfg).revert(sw).catch(() => {});
    throw new DeployError(`${errors[0].message}; nothing was rolled back`, { host: errors[0].host, step: 'blue-green rollback' });
  }
  return done;
}

/** after the rollback's switch: the processes left behind stop after drain_timeout */
export async function blueGreenRollbackDone(o: BgOptions, switches: Map<HostSession, BlueGreenSwitch>, warnings: string[]): Promise<void> {
  const cfg = o.config.env.blue_green;
  if (!cfg) return;
  for (const [s, sw] of switches) {
    await new BlueGreenHost(s.t, s.host.path, cfg).finish(sw).catch((e: Error) => {
      const text = `${s.host.id}: ${e.message}; stop the process on port ${sw.from} by hand`;
      warnings.push(text);
      o.reporter.warn(text);
    });
  }
}
