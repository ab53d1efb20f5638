/**
 * Runs the built CLI (dist/ee-deploy.mjs, built by `npm test` before vitest) as a real process,
 * and writes throwaway projects. Integration tests use these to drive ee-deploy end to end.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(REPO, 'dist/ee-deploy.mjs');

/** Newest modification time of the files under dir (ms). */
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

// End-to-end tests run the bundle: one built before the last source edit would test old code.
{
  const built = existsSync(CLI) ? statSync(CLI).mtimeMs : 0;
  const source = Math.max(newest(path.join(REPO, 'src')), statSync(path.join(REPO, 'templates/ee-deploy.yaml')).mtimeMs);
  if (built < source) throw new Error(`${path.relative(REPO, CLI)} is ${built ? 'older than src/' : 'missing'}: run \`npm run build\` (npm test does) before the integration tests`);
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** when `kill` sent its signal to the still running process (Date.now()) */
  killedAt?: number;
}

export interface CliOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /**
   * kill with this signal `afterMs` after the start, or after `after` resolved (e.g. the first
   * request a health check made: a moment defined by the run itself, not by the machine's speed)
   */
  kill?: { signal: NodeJS.Signals; afterMs: number; after?: Promise<unknown> };
  timeoutMs?: number;
  /** written to the process's stdin (otherwise stdin is /dev/null) */
  input?: string;
}

export function runCli(args: string[], o: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: o.cwd,
      env: { ...process.env, NO_COLOR: '1', ...o.env },
      stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] as ['pipe', 'pipe', 'pipe'],
    });
    // a command that exits without reading its stdin must not fail the test with EPIPE
    if (o.input !== undefined) child.stdin!.on('error', () => {}).end(o.input);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const timers: NodeJS.Timeout[] = [];
    let killedAt: number | undefined;
    let closed = false;
    const sendKill = () => {
      if (closed || child.exitCode !== null || child.signalCode !== null) return;
      killedAt = Date.now();
      child.kill(o.kill!.signal);
    };
    if (o.kill) {
      const { afterMs, after } = o.kill;
      if (after) void after.then(() => !closed && timers.push(setTimeout(sendKill, afterMs)));
      else timers.push(setTimeout(sendKill, afterMs));
    }
    timers.push(setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000));
    child.on('close', (code, signal) => {
      closed = true;
      timers.forEach(clearTimeout);
      resolve({ code, signal, stdout, stderr, ...(killedAt !== undefined ? { killedAt } : {}) });
    });
  });
}

/** A temp project dir with an app under `app/` and the given ee-deploy.yaml text. */
export function makeProject(yaml: string, files: Record<string, string> = { 'index.html': '<h1>hi</h1>\n', 'lib/app.js': 'console.log(1)\n' }, parent = os.tmpdir()): { dir: string; config: string; app: string } {
  const dir = mkdtempSync(path.join(parent, 'ee-proj-'));
  const app = path.join(dir, 'app');
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(app, rel);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, content);
  }
  const config = path.join(dir, 'ee-deploy.yaml');
  writeFileSync(config, yaml);
  return { dir, config, app };
}
