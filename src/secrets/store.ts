/**
 * The secrets file: `ee-deploy.secrets.age` beside the config, safe to commit. Its plaintext is
 * one JSON document: `{"ee-deploy-secrets":1,"values":{NAME:value},"env":{<env>:{NAME:value}}}`
 * (`values` for every environment, `env.<name>` for one). An environment with recipients of its
 * own (`environments.<e>.secrets.recipients`) keeps its values in `ee-deploy.secrets.<e>.age`,
 * encrypted only to those recipients, so the shared file's readers cannot read them.
 * Every file decrypts with the stock `age -d -i KEY FILE`.
 */
import { existsSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, UsageError } from '../errors.js';
import { decryptText, encryptText, loadIdentity, type AgeIdentity } from './age.js';

export const SECRETS_FILE = 'ee-deploy.secrets.age';
export const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface SecretsSettings {
  /** the config file's directory */
  dir: string;
  /** top-level `secrets.recipients` */
  recipients: string[];
  /** `environments.<e>.secrets.recipients`, for environments that have their own */
  envRecipients: Record<string, string[]>;
}

interface FileData {
  'ee-deploy-secrets': 1;
  values: Record<string, string>;
  env: Record<string, Record<string, string>>;
}

/** where one scope lives: the file, its recipients, and the place inside the document */
export interface Scope {
  file: string;
  recipients: string[];
  /** undefined: the shared `values`; else `env[<name>]` (or `values` of an environment's own file) */
  env?: string;
  own: boolean;
}

export function scopeOf(s: SecretsSettings, env?: string): Scope {
  if (env && s.envRecipients[env]?.length) return { file: path.join(s.dir, `ee-deploy.secrets.${env}.age`), recipients: s.envRecipients[env], env, own: true };
  return { file: path.join(s.dir, SECRETS_FILE), recipients: s.recipients, env, own: false };
}

export function checkName(name: string): void {
  if (!SECRET_NAME.test(name)) throw new UsageError(`invalid secret name ${JSON.stringify(name.slice(0, 60))} (letters, digits and _, not starting with a digit)`);
}

const empty = (): FileData => ({ 'ee-deploy-secrets': 1, values: {}, env: {} });

/** Decrypted document of one file; an absent file is empty (and needs no identity). */
export async function readFileData(file: string, id?: AgeIdentity): Promise<FileData> {
  if (!existsSync(file)) return empty();
  const text = await decryptText(readFileSync(file), id ?? loadIdentity(), path.basename(file));
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new ConfigError(`${path.basename(file)}: decrypts, but is not an ee-deploy secrets document`);
  }
  const d = v as Partial<FileData>;
  if (!d || typeof d !== 'object' || d['ee-deploy-secrets'] !== 1 || typeof d.values !== 'object') throw new ConfigError(`${path.basename(file)}: decrypts, but is not an ee-deploy secrets document`);
  return { 'ee-deploy-secrets': 1, values: { ...d.values }, env: { ...(d.env ?? {}) } };
}

function pick(d: FileData, scope: Scope): Record<string, string> {
  return (scope.own || !scope.env ? d.values : d.env[scope.env]) ?? {};
}

/** The values of one scope (only that scope: `--env E` alone does not include the shared ones). */
export async function readScope(s: SecretsSettings, env?: string, id?: AgeIdentity): Promise<Record<string, string>> {
  const scope = scopeOf(s, env);
  return { ...pick(await readFileData(scope.file, id), scope) };
}

/** What `${secret:NAME}` sees in environment `env`: shared values, overridden by the environment's. */
export async function secretsForEnv(s: SecretsSettings, env: string | undefined, id: AgeIdentity | (() => AgeIdentity) = () => loadIdentity()): Promise<Record<string, string>> {
  const main = path.join(s.dir, SECRETS_FILE);
  const scope = scopeOf(s, env);
  if (!existsSync(main) && !(scope.own && existsSync(scope.file))) return {};
  const identity = typeof id === 'function' ? id() : id;
  const shared = await readFileData(main, identity);
  const out = { ...shared.values, ...(env && !scope.own ? shared.env[env] : {}) };
  if (scope.own) Object.assign(out, (await readFileData(scope.file, identity)).values);
  return out;
}

/** Replaces one scope's values and re-encrypts its file (atomically: temp file + rename). */
export async function writeScope(s: SecretsSettings, env: string | undefined, values: Record<string, string>, id?: AgeIdentity): Promise<Scope> {
  const scope = scopeOf(s, env);
  if (scope.recipients.length === 0) {
    throw new ConfigError(`${scope.env ? `environments.${scope.env}.secrets.recipients or ` : ''}secrets.recipients: no age recipients configured (add age1... public keys to encrypt to)`);
  }
  for (const n of Object.keys(values)) checkName(n);
  const d = await readFileData(scope.file, id);
  const sorted = Object.fromEntries(Object.entries(values).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  if (scope.own || !scope.env) d.values = sorted;
  else if (Object.keys(sorted).length) d.env[scope.env] = sorted;
  else delete d.env[scope.env];
  const armored = await encryptText(JSON.stringify(d, null, 1) + '\n', scope.recipients);
  const tmp = `${scope.file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, armored, { mode: 0o644 });
    renameSync(tmp, scope.file);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      /* nothing to clean */
    }
    throw new ConfigError(`cannot write ${scope.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return scope;
}
