/** Local steps before anything touches a server: before_upload hooks, source.build, the source scan. */
import { formatDuration } from '../config/duration.js';
import { redact } from '../config/secrets.js';
import { ConfigError, DeployError, InterruptedError } from '../errors.js';
import type { Reporter } from '../ui/reporter.js';
import { describeExcluded, scanSource, type SourceTree } from '../release/scan.js';
import { sharedPathProblem } from '../release/shared-paths.js';
import { formatBytes } from '../util/format.js';
import type { RunOptions } from './context.js';
import { tail } from './remote.js';

/**
 * Run a local command, its output streamed with --verbose. Done: `<step>: <command> ok 1.2s`.
 * `timeoutMs` (hooks_timeout for hooks) ends a command that runs longer: a failure.
 */
export async function runLocalCommand(command: string, o: { cwd: string; reporter: Reporter; step: string; signal?: AbortSignal; timeoutMs?: number }): Promise<void> {
  const s = o.reporter.step(`${o.step}: ${command}`);
  const t0 = performance.now();
  const { execa } = await import('execa'); // loaded only by projects with local steps
  // its own process group, so a timeout or an interrupt ends what the command started too (a
  // `sleep` holding the output pipe would otherwise keep the step waiting)
  const child = execa(command, { shell: true, cwd: o.cwd, reject: false, all: true, stdin: 'ignore', detached: true });
  const killGroup = (sig: NodeJS.Signals) => {
    try {
      if (child.pid) process.kill(-child.pid, sig);
    } catch {
      // already gone
    }
  };
  let timedOut = false;
  let hard: NodeJS.Timeout | undefined;
  const end = () => {
    killGroup('SIGTERM');
    hard = setTimeout(() => killGroup('SIGKILL'), 2000);
  };
  const timer = o.timeoutMs !== undefined ? setTimeout(() => ((timedOut = true), end()), o.timeoutMs) : undefined;
  if (o.signal?.aborted) end();
  else o.signal?.addEventListener('abort', end, { once: true });
  child.all?.setEncoding('utf8').on('data', (d: string) => o.reporter.output('local', d));
  const r = await child.finally(() => {
    clearTimeout(timer);
    clearTimeout(hard);
    o.signal?.removeEventListener('abort', end);
  });
  if (o.signal?.aborted) {
    s.fail(`${o.step} interrupted`);
    throw new InterruptedError(`interrupted during ${o.step}`);
  }
  if (timedOut) {
    s.fail(`${o.step}: ${command} timed out ${seconds(t0)}`);
    throw new DeployError(redact(`${o.step} timed out after ${formatDuration(o.timeoutMs ?? 0)} (hooks_timeout): ${command}`), { step: o.step, host: 'local' });
  }
  if (r.exitCode !== 0) {
    s.fail(`${o.step} failed`);
    const out = tail(String(r.all ?? ''), 20);
    if (out && !o.reporter.verbose) o.reporter.info(out);
    const lastLine = tail(String(r.all ?? ''), 1);
    throw new DeployError(redact(`${o.step} failed (exit ${r.exitCode ?? 'signal'}): ${command}${lastLine ? ` — ${lastLine}` : ''}`), { step: o.step, host: 'local' });
  }
  s.succeed(`${o.step}: ${command} ok ${seconds(t0)}`);
}

const seconds = (t0: number) => `${((performance.now() - t0) / 1000).toFixed(1)}s`;

/** Local steps (before_upload hooks, build) and the source scan: nothing remote is touched if they fail. */
export async function buildSource(o: RunOptions, beforeScan?: () => void): Promise<SourceTree> {
  const { config, reporter } = o;
  for (const h of config.raw.hooks.before_upload) {
    if (o.dryRun) reporter.info(`[dry-run] local: hook before_upload: ${h}`);
    else await runLocalCommand(h, { cwd: config.dir, reporter, step: 'hook before_upload', signal: o.signal, timeoutMs: config.raw.hooks_timeout });
  }
  if (config.raw.source.build) {
    if (o.dryRun) reporter.info(`[dry-run] local: build: ${config.raw.source.build}`);
    else await runLocalCommand(config.raw.source.build, { cwd: config.dir, reporter, step: 'build', signal: o.signal });
  }
  if (o.signal?.aborted) throw new InterruptedError('interrupted before upload; nothing was touched');
  beforeScan?.();
  const tree = o.dryRun ? await scanSource(config.sourceDir, config.raw.source.exclude).catch(() => emptyTree(config.sourceDir)) : await scanSource(config.sourceDir, config.raw.source.exclude);
  const problem = sharedPathProblem(tree, config.raw.shared.dirs, config.raw.shared.files);
  if (problem) throw new ConfigError(problem, config.file);
  reporter.info(`source ${config.sourceDir}: ${tree.files} files, ${formatBytes(tree.totalBytes)}`);
  // so a default exclude (node_modules) never silently drops a build's output
  if (tree.excluded?.length) reporter.info(`exclude removed: ${describeExcluded(tree.excluded)}`);
  return tree;
}

export function emptyTree(dir: string): SourceTree {
  return { dir, entries: [], totalBytes: 0, files: 0 };
}
