/**
 * Helpers for the end-to-end deploy suites: the CLI environment that points ee-deploy at an sshd
 * fixture's fake HOME, a YAML writer for throwaway projects, and readers for the remote tree (the
 * fixture sshd runs on this machine and logs in as the test user `ee-test`, uid 0, when the suite
 * runs as root, else as the current user; either way a "remote" deploy path is a local dir).
 */
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { makeProject, runCli, type CliOptions, type CliResult } from './cli.js';
import type { SshdServerOptions } from './sshd.js';

/**
 * An empty directory used as $HOME inside SSH sessions, one per test process. As root the login
 * user is `ee-test` (shell /bin/sh, which reads no rc file for `sh -c`), so this changes nothing
 * there; a developer running the suite as themselves logs in as their own user, whose bash
 * sources ~/.bashrc when started by sshd, and an rc file (pyenv, nvm, ...) would then cost
 * 100-300 ms per exec. (The login directory, and so the meaning of relative deploy paths, is
 * unchanged: sshd still starts sessions in the passwd home.)
 */
const SESSION_HOME = mkdtempSync(path.join(os.tmpdir(), 'ee-session-home-'));

/** options for a fixture server whose sessions do not read the login user's shell rc files */
export function server(alias: string, more: SshdServerOptions = {}): SshdServerOptions {
  return { alias, ...more, sshdConfig: [`SetEnv HOME=${SESSION_HOME}`, more.sshdConfig].filter(Boolean).join('\n') };
}

/** Environment for a CLI run: HOME = the fixture's home (ssh config, known_hosts, registry). */
export function cliEnv(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    HOME: home,
    // env-paths: the registry must live under this HOME
    XDG_CONFIG_HOME: undefined,
    SSH_AUTH_SOCK: undefined,
    // a known performer (the CI actor wins over git user.name and $USER)
    GITHUB_ACTOR: 'alice',
    GITLAB_USER_LOGIN: undefined,
    // keep git from finding a repository above the temp dirs
    GIT_CEILING_DIRECTORIES: os.tmpdir(),
    ...extra,
  };
}

/** runCli with `cwd` and HOME preset; extra env merged over cliEnv. */
export function cli(home: string, cwd: string, args: string[], o: CliOptions = {}): Promise<CliResult> {
  return runCli(args, { ...o, cwd: o.cwd ?? cwd, env: cliEnv(home, o.env) });
}

export interface HostSpec {
  host: string;
  path: string;
  user?: string;
}

export interface ProjectSpec {
  project?: string;
  hosts: HostSpec[];
  keep?: number;
  sharedDirs?: string[];
  sharedFiles?: string[];
  build?: string;
  exclude?: string[];
  hooks?: Partial<Record<'before_upload' | 'before_switch' | 'after_switch' | 'after_rollback', string[]>>;
  hooksTimeout?: string;
  /** raw YAML list items under health_checks */
  healthChecks?: Record<string, unknown>[];
  healthDefaults?: Record<string, unknown>;
  env?: string;
}

/** ee-deploy.yaml text (JSON is YAML: every value is emitted JSON-quoted). */
export function projectYaml(p: ProjectSpec): string {
  const j = JSON.stringify;
  const out: string[] = [`project: ${p.project ?? 'shop'}`, `source:`, `  dir: ./app`];
  if (p.exclude) out.push(`  exclude: ${j(p.exclude)}`);
  if (p.build) out.push(`  build: ${j(p.build)}`);
  out.push(`keep_releases: ${p.keep ?? 5}`);
  out.push(`shared:`, `  dirs: ${j(p.sharedDirs ?? [])}`, `  files: ${j(p.sharedFiles ?? [])}`);
  out.push(`hooks:`);
  for (const k of ['before_upload', 'before_switch', 'after_switch', 'after_rollback'] as const) out.push(`  ${k}: ${j(p.hooks?.[k] ?? [])}`);
  if (p.hooksTimeout) out.push(`hooks_timeout: ${j(p.hooksTimeout)}`);
  if (p.healthChecks) out.push(`health_checks: ${j(p.healthChecks)}`);
  if (p.healthDefaults) out.push(`health_defaults: ${j(p.healthDefaults)}`);
  out.push(`environments:`, `  ${p.env ?? 'production'}:`, `    hosts:`);
  for (const h of p.hosts) out.push(`      - ${j({ host: h.host, path: h.path, ...(h.user ? { user: h.user } : {}) })}`);
  return out.join('\n') + '\n';
}

export interface Project {
  dir: string;
  config: string;
  app: string;
  write(spec: ProjectSpec): void;
}

/** A throwaway project dir (not a git repository) with an app under `app/`. */
export function newProject(spec: ProjectSpec, files: Record<string, string> = { 'index.html': '<h1>v1</h1>\n', 'lib/app.js': 'console.log(1)\n' }, parent = os.tmpdir()): Project {
  const { dir, config, app } = makeProject(projectYaml(spec), files, parent);
  const proj: Project = {
    dir,
    config,
    app,
    write(s) {
      writeFileSync(config, projectYaml(s));
    },
  };
  return proj;
}

// ---- the remote tree ------------------------------------------------------------------------

export const RELEASE = /^\d{14}(-\d+)?$/;

export function releases(root: string): string[] {
  const dir = path.join(root, 'releases');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).sort();
}

/** what `current` points at (the link text) */
export function currentLink(root: string): string | undefined {
  try {
    return readlinkSync(path.join(root, 'current'));
  } catch {
    return undefined;
  }
}

/** the release id `current` points at */
export function current(root: string): string | undefined {
  const l = currentLink(root);
  return l?.replace(/^releases\//, '');
}

export function historyRecords(root: string): Record<string, unknown>[] {
  const f = path.join(root, '.ee-deploy', 'history.jsonl');
  if (!existsSync(f)) return [];
  return readFileSync(f, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export function revisionsLog(root: string): string[] {
  const f = path.join(root, 'revisions.log');
  return existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean) : [];
}

export function lockDir(root: string): string {
  return path.join(root, '.ee-deploy', 'lock');
}

export function isLocked(root: string): boolean {
  return existsSync(lockDir(root));
}

export function isSymlink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

export function isBad(root: string, id: string): boolean {
  return existsSync(path.join(root, 'releases', id, 'BAD_RELEASE'));
}

/**
 * A stand-in for the deployed app: answers every request from `<root>/current/health.txt`
 * (200 and the text when it says `ok`, 500 otherwise, 503 when there is no current release), so
 * what it answers follows what `current` points at, as a real app's would.
 */
export interface AppServer {
  url: string;
  hits: number;
  /** resolves at the next request */
  nextHit(): Promise<void>;
  close(): Promise<void>;
}

export async function startAppServer(root: string): Promise<AppServer> {
  const sockets = new Set<Socket>();
  let waiters: (() => void)[] = [];
  const app: AppServer = {
    url: '',
    hits: 0,
    nextHit: () => new Promise<void>((r) => waiters.push(r)),
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
  const server: Server = createServer((_req, res) => {
    app.hits++;
    const w = waiters;
    waiters = [];
    for (const f of w) f();
    let text: string | undefined;
    try {
      text = readFileSync(path.join(root, 'current', 'health.txt'), 'utf8').trim();
    } catch {
      text = undefined;
    }
    const status = text === undefined ? 503 : text === 'ok' ? 200 : 500;
    res.writeHead(status, { 'content-type': 'text/plain', connection: 'close' }).end(`${text ?? 'no current release'}\n`);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  app.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
  return app;
}

/** the one JSON document a --json run printed on stdout */
export function jsonDoc(stdout: string): Record<string, any> {
  const text = stdout.trim();
  return JSON.parse(text) as Record<string, any>;
}
