/**
 * The project registry: every successful deploy/init records
 * `project -> absolute config path` in the user's config dir, so `ee-deploy rollback shop` works
 * from any directory. Located with env-paths (follows $HOME and XDG_CONFIG_HOME).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import envPaths from 'env-paths';

export function registryFile(): string {
  return path.join(envPaths('ee-deploy', { suffix: '' }).config, 'projects.json');
}

export function readRegistry(): Record<string, string> {
  try {
    const v = JSON.parse(readFileSync(registryFile(), 'utf8')) as unknown;
    return v && typeof v === 'object' ? (v as Record<string, string>) : {};
  } catch {
    return {};
  }
}

export function registerProject(name: string, configPath: string): void {
  const file = registryFile();
  const all = readRegistry();
  if (all[name] === configPath) return;
  all[name] = configPath;
  // private: it names every project and where its config lives
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(all, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, file); // atomic: concurrent deploys never leave a torn registry
}

export function lookupProject(name: string): string | undefined {
  const all = readRegistry();
  // own keys only: a project named `constructor` or `__proto__` is unknown, not a prototype member
  return Object.hasOwn(all, name) ? all[name] : undefined;
}
