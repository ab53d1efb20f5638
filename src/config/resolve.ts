/**
 * From a validated config to what a run needs: the chosen environment and its hosts with every
 * per-host default filled in.
 */
import path from 'node:path';
import { ConfigError, UsageError } from '../errors.js';
import type { LoadedConfig } from './load.js';
import type { EnvironmentConfig, HostConfig, RawConfig } from './schema.js';
import { mergePolicy, type Policy } from '../policy/evaluate.js';
import { renderDotenv } from '../secrets/dotenv.js';

export interface ResolvedHost {
  /** the name as written in the config (a host name or ~/.ssh/config alias), or `local` */
  name: string;
  /** display / selection id, unique within the environment (name, or name:port on collision) */
  id: string;
  local: boolean;
  user?: string;
  port?: number;
  /** deploy root: absolute for local targets; absolute or relative to the login directory over SSH */
  path: string;
  roles: string[];
  tags: string[];
  jump?: string;
  identityFile?: string;
  /** release archive compression (the host's, else the environment's; absent = auto) */
  compress?: 'auto' | 'on' | 'off';
  /** `openssh`: the system `ssh` binary connects (ControlMaster), else the built-in client */
  sshClient?: 'builtin' | 'openssh';
}

export interface ResolvedConfig {
  file: string;
  dir: string;
  project: string;
  envName: string;
  env: EnvironmentConfig;
  hosts: ResolvedHost[];
  raw: RawConfig;
  /** absolute local source directory */
  sourceDir: string;
  /** top-level policy with the environment's keys replacing its own */
  policy: Policy;
  /** `env_file`: the rendered NAME=VALUE text for <path>/shared/<path> (secret values inside) */
  envFile?: { path: string; content: string };
}

export function resolveConfig(loaded: LoadedConfig, envName?: string): ResolvedConfig {
  const { raw } = loaded;
  const names = Object.keys(raw.environments);
  let chosen = envName;
  if (!chosen) {
    if (names.length !== 1) throw new UsageError(`choose an environment with -e/--env (one of: ${names.join(', ')})`);
    chosen = names[0];
  }
  // own keys only: `-e constructor` names no environment (it would find Object.prototype's member)
  const env = Object.hasOwn(raw.environments, chosen) ? raw.environments[chosen] : undefined;
  if (!env) throw new UsageError(`unknown environment "${chosen}" (one of: ${names.join(', ')})`);
  const hosts = env.hosts.map((h, i) => resolveHost(h, env, loaded, chosen!, i));
  const seen = new Set<string>();
  for (const h of hosts) {
    if (seen.has(h.id)) h.id = `${h.id}:${h.port ?? 22}`;
    if (seen.has(h.id)) throw new ConfigError(`environments.${chosen}.hosts: host ${h.id} is listed twice`, loaded.file);
    seen.add(h.id);
  }
  const envFile = resolveEnvFile(loaded, env, chosen);
  return {
    file: loaded.file,
    dir: loaded.dir,
    project: raw.project,
    envName: chosen,
    env,
    hosts,
    // the env file is linked into every release like the shared files
    raw: envFile && !raw.shared.files.includes(envFile.path) ? { ...raw, shared: { ...raw.shared, files: [...raw.shared.files, envFile.path] } } : raw,
    sourceDir: path.resolve(loaded.dir, raw.source.dir),
    policy: mergePolicy(raw.policy, env.policy),
    envFile,
  };
}

function resolveEnvFile(loaded: LoadedConfig, env: EnvironmentConfig, envName: string): ResolvedConfig['envFile'] {
  const spec = env.env_file ?? loaded.raw.env_file;
  if (!spec) return undefined;
  const values = loaded.secrets ?? {};
  const missing = spec.from.find((n) => !Object.hasOwn(values, n));
  if (missing) {
    const where = env.env_file ? `environments.${envName}.env_file.from` : 'env_file.from';
    throw new ConfigError(`${where}: secret ${missing} is not set (add it with \`ee-deploy secrets set ${missing}${env.env_file ? ` --env ${envName}` : ''}\`)`, loaded.file);
  }
  if (loaded.raw.shared.dirs.some((d) => spec.path === d || spec.path.startsWith(`${d.replace(/\/+$/, '')}/`))) {
    throw new ConfigError(`env_file.path: ${spec.path} lies inside a shared dir; name a file of its own`, loaded.file);
  }
  return { path: spec.path, content: renderDotenv(values, spec.from) };
}

function resolveHost(h: HostConfig, env: EnvironmentConfig, loaded: LoadedConfig, envName: string, i: number): ResolvedHost {
  const local = h.host === 'local';
  let p = h.path ?? env.path;
  if (!p) throw new ConfigError(`environments.${envName}.hosts[${i}].path: missing (the deploy directory on the host)`, loaded.file);
  if (local) p = path.resolve(loaded.dir, p.replace(/^~(?=\/|$)/, process.env.HOME ?? '~'));
  else if (p === '~' || p.startsWith('~/')) p = p === '~' ? '.' : p.slice(2); // ssh sessions start in the login directory
  p = p.length > 1 ? p.replace(/\/+$/, '') : p;
  return {
    name: h.host,
    id: h.host,
    local,
    user: h.user ?? env.user,
    port: h.port ?? env.port,
    path: p,
    roles: h.roles,
    tags: h.tags,
    jump: h.jump,
    compress: h.compress ?? env.compress,
    sshClient: h.ssh_client ?? env.ssh_client ?? 'builtin',
    // relative key paths are relative to the config file; `~` follows $HOME (expanded by the SSH layer)
    identityFile: h.identity_file && !h.identity_file.startsWith('~') ? path.resolve(loaded.dir, h.identity_file) : h.identity_file,
  };
}
