/**
 * Pull-mode fixtures: a bare git remote (a plain directory path), a developer clone that
 * commits and pushes, and the deploy work tree (holding ee-deploy.yaml and app/) that `watch`
 * and `webhook` fetch into and deploy from, to a local target outside the repo.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=Dev', '-c', 'user.email=dev@example.com', '-c', 'init.defaultBranch=main', '-c', 'commit.gpgsign=false', ...args], { cwd, encoding: 'utf8', env: { ...process.env, GIT_CEILING_DIRECTORIES: os.tmpdir() } }).trim();
}

export interface GitProject {
  tmp: string;
  home: string;
  remote: string;
  dev: string;
  work: string;
  config: string;
  deployRoot: string;
  /** commits `files` (relative to the repo) in the dev clone, pushes, returns the sha */
  push(files: Record<string, string>, message?: string, branch?: string): string;
  current(): string | undefined;
  revision(): string | undefined;
  releases(): string[];
  locked(): boolean;
  history(): Record<string, unknown>[];
}

export function makeGitProject(o: { yaml?: (deployRoot: string) => string; extra?: string } = {}): GitProject {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-pull-'));
  const home = path.join(tmp, 'home');
  mkdirSync(home);
  const remote = path.join(tmp, 'remote.git');
  const dev = path.join(tmp, 'dev');
  const work = path.join(tmp, 'work');
  const deployRoot = path.join(tmp, 'srv', 'app');
  git(tmp, 'init', '-q', '--bare', '-b', 'main', remote);
  git(tmp, 'clone', '-q', remote, dev);
  git(dev, 'checkout', '-q', '-b', 'main');
  const yaml =
    o.yaml?.(deployRoot) ??
    `project: pulltest
source: { dir: app }
keep_releases: 20
webhook: { secret: "\${WEBHOOK_SECRET}" }
${o.extra ?? ''}
environments:
  production:
    hosts: [{ host: local, path: ${deployRoot} }]
`;
  const files: Record<string, string> = { 'ee-deploy.yaml': yaml, 'app/index.html': '<h1>v0</h1>\n' };
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dev, rel)), { recursive: true });
    writeFileSync(path.join(dev, rel), text);
  }
  git(dev, 'add', '-A');
  git(dev, 'commit', '-q', '-m', 'initial');
  git(dev, 'push', '-q', 'origin', 'main');
  git(tmp, 'clone', '-q', '-b', 'main', remote, work);
  const p: GitProject = {
    tmp,
    home,
    remote,
    dev,
    work,
    config: path.join(work, 'ee-deploy.yaml'),
    deployRoot,
    push(files, message = 'change', branch = 'main') {
      const cur = git(dev, 'rev-parse', '--abbrev-ref', 'HEAD');
      if (cur !== branch) git(dev, 'checkout', '-q', '-B', branch);
      for (const [rel, text] of Object.entries(files)) {
        mkdirSync(path.dirname(path.join(dev, rel)), { recursive: true });
        writeFileSync(path.join(dev, rel), text);
      }
      git(dev, 'add', '-A');
      git(dev, 'commit', '-q', '-m', message);
      git(dev, 'push', '-q', 'origin', branch);
      const sha = git(dev, 'rev-parse', 'HEAD');
      if (branch !== 'main') git(dev, 'checkout', '-q', 'main');
      return sha;
    },
    current() {
      try {
        return path.basename(readlinkSync(path.join(deployRoot, 'current')));
      } catch {
        return undefined;
      }
    },
    revision() {
      const id = p.current();
      return id ? readFileSync(path.join(deployRoot, 'releases', id, 'REVISION'), 'utf8').trim() : undefined;
    },
    releases() {
      const d = path.join(deployRoot, 'releases');
      return existsSync(d) ? readdirSync(d).filter((n) => /^\d{14}$/.test(n)).sort() : [];
    },
    locked() {
      return existsSync(path.join(deployRoot, '.ee-deploy', 'lock'));
    },
    history() {
      const f = path.join(deployRoot, '.ee-deploy', 'history.jsonl');
      return existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) : [];
    },
  };
  return p;
}

export const WEBHOOK_SECRET = 'test-webhook-secret-0123456789abcdef';

export function pullEnv(p: GitProject, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    HOME: p.home,
    XDG_CONFIG_HOME: undefined,
    SSH_AUTH_SOCK: undefined,
    GITHUB_ACTOR: 'alice',
    GITHUB_ACTIONS: undefined,
    GITLAB_USER_LOGIN: undefined,
    GIT_CEILING_DIRECTORIES: os.tmpdir(),
    WEBHOOK_SECRET,
    NO_COLOR: '1',
    ...extra,
  };
}

export interface Service {
  child: import('node:child_process').ChildProcess;
  lines: string[];
  stderr(): string;
  /** resolves with the first stdout line (from `from` on) matching `re` */
  waitLine(re: RegExp, timeoutMs?: number, from?: number): Promise<string>;
  /** resolves with the exit code (or signal name) */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts a long-running CLI command (watch, webhook) and follows its stdout line by line. */
export async function startService(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Service> {
  const { spawn } = await import('node:child_process');
  const { CLI } = await import('./cli.js');
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let err = '';
  let buf = '';
  const waiters = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
    for (const w of waiters) w();
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => {
    for (const w of waiters) w();
    resolve({ code, signal });
  }));
  return {
    child,
    lines,
    stderr: () => err,
    exited,
    waitLine(re, timeoutMs = 30_000, from = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = lines.slice(from).find((l) => re.test(l));
          if (hit !== undefined) {
            waiters.delete(check);
            clearTimeout(t);
            resolve(hit);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            waiters.delete(check);
            clearTimeout(t);
            reject(new Error(`process exited before a line matched ${re}:\n${lines.join('\n')}\n${err}`));
          }
        };
        const t = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no line matched ${re} within ${timeoutMs} ms:\n${lines.join('\n')}\n${err}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}
