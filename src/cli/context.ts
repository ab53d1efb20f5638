/** Shared CLI plumbing: global options, output mode, config lookup (file or registered project). */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfigWithSecrets } from '../config/secrets-file.js';
import { lookupProject, readRegistry } from '../config/registry.js';
import { resolveConfig, type ResolvedConfig, type ResolvedHost } from '../config/resolve.js';
import { parseDuration } from '../config/duration.js';
import { UsageError } from '../errors.js';
import { createReporter, type OutputMode, type Reporter } from '../ui/reporter.js';

export interface GlobalOptions {
  config?: string;
  env?: string;
  json?: boolean;
  yes?: boolean;
  dryRun?: boolean;
  verbose?: boolean;
  color?: boolean;
  hosts?: string;
  role?: string;
  lockWait?: string;
}

export function globalOptions(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals() as GlobalOptions;
}

export function outputMode(o: GlobalOptions): OutputMode {
  if (o.json) return 'json';
  // a terminal that reports no width (e.g. under `script` without a size) cannot host spinners:
  // ora would compute an endless number of lines to clear
  return process.stdout.isTTY && (process.stdout.columns ?? 0) > 0 ? 'tty' : 'plain';
}

export function useColor(o: GlobalOptions): boolean {
  return o.color !== false && !('NO_COLOR' in process.env && process.env.NO_COLOR !== '') && !!process.stdout.isTTY;
}

export function isInteractive(): boolean {
  return !!process.stdin.isTTY;
}

export async function reporterFor(o: GlobalOptions): Promise<Reporter> {
  return createReporter({ mode: outputMode(o), verbose: !!o.verbose, color: useColor(o) });
}

/** `-c FILE`, else the registered project, else ./ee-deploy.yaml */
export function configPath(o: GlobalOptions, project?: string): string {
  if (o.config) return path.resolve(o.config);
  if (project) {
    const p = lookupProject(project);
    if (!p) {
      const known = Object.keys(readRegistry());
      throw new UsageError(`unknown project "${project}": no config registered under that name (known: ${known.join(', ') || 'none'}; a successful deploy or init registers it, or pass -c FILE)`);
    }
    if (!existsSync(p)) throw new UsageError(`project "${project}" is registered with ${p}, which no longer exists (pass -c FILE)`);
    return p;
  }
  return path.resolve('ee-deploy.yaml');
}

/** the config of the chosen environment; `${secret:NAME}` decrypted when the config uses it */
export async function loadConfig(o: GlobalOptions, project?: string): Promise<ResolvedConfig> {
  const file = configPath(o, project);
  const loaded = await loadConfigWithSecrets(file, o.env);
  const config = resolveConfig(loaded, o.env);
  // `-c FILE` chooses the file; a project named beside it must be the one the file configures,
  // never silently ignored (a rollback of the wrong project during an incident)
  if (project !== undefined && config.project !== project) {
    throw new UsageError(`project "${project}" does not match ${path.relative(process.cwd(), file) || file}, the config of project "${config.project}" (drop one of the two)`);
  }
  return config;
}

/** --hosts a,b and --role web */
export function selectHosts(config: ResolvedConfig, o: GlobalOptions): ResolvedHost[] {
  let hosts = config.hosts;
  if (o.hosts) {
    const wanted = o.hosts.split(',').map((h) => h.trim()).filter(Boolean);
    for (const w of wanted) if (!hosts.some((h) => h.id === w || h.name === w)) throw new UsageError(`--hosts: no host "${w}" in ${config.envName} (hosts: ${hosts.map((h) => h.id).join(', ')})`);
    hosts = hosts.filter((h) => wanted.includes(h.id) || wanted.includes(h.name));
  }
  if (o.role) {
    const roles = o.role.split(',').map((r) => r.trim());
    hosts = hosts.filter((h) => h.roles.some((r) => roles.includes(r)) || h.tags.some((t) => roles.includes(t)));
    if (hosts.length === 0) throw new UsageError(`--role ${o.role}: no host in ${config.envName} has that role or tag`);
  }
  return hosts;
}

export function lockWaitMs(o: GlobalOptions): number | undefined {
  if (o.lockWait === undefined) return undefined;
  const ms = parseDuration(o.lockWait);
  if (ms === undefined) throw new UsageError(`--lock-wait: invalid duration "${o.lockWait}" (e.g. 30s, 2m)`);
  return ms;
}

/** prints the --json document (exactly one, on stdout) */
export function printJson(doc: unknown): void {
  process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
}
