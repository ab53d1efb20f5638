/**
 * What the dashboard shows, per registered project and environment, read in one refresh: one
 * exec per host (remote/steps/insight.ts), everything else computed here. A refresh in progress
 * is shared by every request that arrives meanwhile.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { loadConfigWithSecrets } from '../config/secrets-file.js';
import { readRegistry } from '../config/registry.js';
import { resolveConfig, type ResolvedConfig } from '../config/resolve.js';
import { redact } from '../config/secrets.js';
import type { MetricsReport } from '../metrics/compute.js';
import { metricsFrom, snapshotHost, type HostSnapshot } from '../metrics/collect.js';
import { forEachLimited } from '../util/concurrency.js';
import { metricsWindow } from '../metrics/window.js';

export interface HostRow {
  host: string;
  ok: boolean;
  error?: string;
  current?: string;
  commit?: string;
  noLayout?: boolean;
}

export interface LockView {
  user?: string;
  machine?: string;
  pid?: number;
  since?: string;
  message?: string;
  command?: string;
}

export interface HistoryItem {
  action: string;
  status: string;
  release: string;
  user: string;
  started: string;
  seconds: number;
  hosts: string[];
}

export interface EnvView {
  key: string;
  project: string;
  env: string;
  hosts: HostRow[];
  /** reachable hosts point `current` at different releases */
  disagree: boolean;
  lock?: LockView;
  /** newest first */
  history: HistoryItem[];
  metrics: MetricsReport;
  /** the deploy durations of the last deployments, oldest first */
  durations: { release: string; started: string; seconds: number; status: string }[];
  /** what a plain rollback would switch to (undefined: nothing to roll back to; hosts disagree: several) */
  rollbackTargets: string[];
  /** approvals a deploy needs (policy.approvals): the Approve button shows when > 0 */
  approvalsNeeded: number;
  warnings: string[];
}

export interface ProjectView {
  project: string;
  /** the config could not be read */
  error?: string;
  envs: EnvView[];
}

export interface DashboardState {
  refreshedAt: string;
  /** how long the refresh took (ms) */
  tookMs: number;
  projects: ProjectView[];
}

export interface Target {
  project: string;
  env: string;
  config: ResolvedConfig;
}

const HISTORY_SHOWN = 50;
const MAX_PARALLEL_HOSTS = 16;

/** environment names of a config file, read before each environment is loaded on its own */
function environmentNames(file: string): string[] {
  const doc = parseYaml(readFileSync(file, 'utf8')) as { environments?: Record<string, unknown> } | null;
  return doc && doc.environments && typeof doc.environments === 'object' ? Object.keys(doc.environments) : [];
}

/**
 * Every registered project (or only `names`) and each of its environments, loaded as the CLI
 * loads them (`${secret:NAME}` decrypted for that environment).
 */
export async function loadTargets(names: string[]): Promise<{ targets: Target[]; errors: ProjectView[] }> {
  const reg = readRegistry();
  const wanted = names.length ? names : Object.keys(reg).sort();
  const targets: Target[] = [];
  const errors: ProjectView[] = [];
  for (const name of wanted) {
    const file = reg[name];
    if (!file) {
      errors.push({ project: name, error: `not registered (a successful deploy or init registers a project)`, envs: [] });
      continue;
    }
    try {
      for (const env of environmentNames(file)) targets.push({ project: name, env, config: resolveConfig(await loadConfigWithSecrets(file, env), env) });
    } catch (e) {
      errors.push({ project: name, error: redact((e as Error).message), envs: [] });
    }
  }
  return { targets, errors };
}

export function envView(t: Target, snaps: HostSnapshot[], now = Date.now()): EnvView {
  const m = metricsFrom(t.project, t.env, snaps, metricsWindow({}, now));
  const ok = snaps.filter((s) => s.ok && !s.noLayout);
  const currents = new Set(ok.map((s) => s.current ?? ''));
  const held = snaps.find((s) => s.lock);
  const info = held?.lock as { user?: string; machine?: string; pid?: number; time?: string; message?: string; command?: string } | undefined;
  const targets = new Set<string>();
  for (const s of ok) {
    const prev = s.previous;
    if (prev) targets.add(prev);
  }
  const deployments = m.runs.filter((r) => r.action === 'deploy' && r.firstLive !== undefined && !r.promote).slice(-30);
  return {
    key: `${t.project}/${t.env}`,
    project: t.project,
    env: t.env,
    hosts: snaps.map((s) => ({ host: s.host, ok: s.ok, error: s.error, current: s.current, commit: s.commit, noLayout: s.noLayout })),
    disagree: currents.size > 1,
    lock: held ? { user: info?.user, machine: info?.machine, pid: info?.pid, since: info?.time, message: info?.message, command: info?.command } : undefined,
    history: m.runs
      .slice(-HISTORY_SHOWN)
      .reverse()
      .map((r) => ({ action: r.action, status: r.status, release: r.id, user: r.user, started: new Date(r.started).toISOString(), seconds: (r.ended - r.started) / 1000, hosts: r.hosts })),
    metrics: m.report,
    durations: deployments.map((r) => ({ release: r.id, started: new Date(r.started).toISOString(), seconds: (r.ended - r.started) / 1000, status: r.status })),
    rollbackTargets: [...targets],
    approvalsNeeded: t.config.policy?.approvals ?? 0,
    warnings: m.warnings,
  };
}

/** One refresh: every host of every target read once, in parallel (bounded). */
export async function readState(names: string[], o: { connectTimeoutMs?: number } = {}): Promise<DashboardState> {
  const started = Date.now();
  const { targets, errors } = await loadTargets(names);
  const jobs = targets.flatMap((t, ti) => t.config.hosts.map((h, hi) => ({ t, ti, h, hi })));
  const snaps: HostSnapshot[][] = targets.map((t) => new Array(t.config.hosts.length));
  await forEachLimited(jobs, MAX_PARALLEL_HOSTS, async (j) => {
    snaps[j.ti][j.hi] = await snapshotHost(j.h, { interactive: false, connectTimeoutMs: o.connectTimeoutMs });
  });
  const byProject = new Map<string, ProjectView>();
  targets.forEach((t, i) => {
    const p = byProject.get(t.project) ?? { project: t.project, envs: [] };
    p.envs.push(envView(t, snaps[i]));
    byProject.set(t.project, p);
  });
  const projects = [...byProject.values(), ...errors].sort((a, b) => (a.project < b.project ? -1 : 1));
  return { refreshedAt: new Date().toISOString(), tookMs: Date.now() - started, projects };
}
