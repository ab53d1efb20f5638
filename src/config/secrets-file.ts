/**
 * The config's link to the encrypted secrets file: which recipients encrypt it (read from the
 * YAML without interpolating anything, so `secrets set` works before every `${VAR}` is set),
 * and a loader that decrypts it only when the config uses `${secret:...}` or `env_file`.
 */
import path from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigError } from '../errors.js';
import { isRecipient, loadIdentity } from '../secrets/age.js';
import { secretsForEnv, type SecretsSettings } from '../secrets/store.js';
import { usesSecretsFile } from './interpolate.js';
import { parseConfigText, readConfigText, type LoadedConfig } from './load.js';
import { registerSecret } from './secrets.js';

function recipientsAt(v: unknown, where: string, file: string): string[] {
  if (v === undefined || v === null) return [];
  const r = (v as { recipients?: unknown }).recipients;
  if (!Array.isArray(r) || r.some((x) => typeof x !== 'string' || !isRecipient(x))) throw new ConfigError(`${where}.recipients: must be a list of age recipients (age1...)`, file);
  return r as string[];
}

/** `secrets.recipients` (top level and per environment), and the environment names */
export function secretsSettingsFromText(text: string, file: string): SecretsSettings & { envNames: string[] } {
  const doc = parseDocument(text, { prettyErrors: false });
  if (doc.errors[0]) throw new ConfigError(`invalid YAML: ${doc.errors[0].message.split('\n')[0]}`, file);
  const data = (doc.toJS({ maxAliasCount: 100 }) ?? {}) as { secrets?: unknown; environments?: Record<string, { secrets?: unknown }> };
  const envs = data.environments && typeof data.environments === 'object' ? data.environments : {};
  const envRecipients: Record<string, string[]> = {};
  for (const [name, e] of Object.entries(envs)) {
    const r = recipientsAt(e?.secrets, `environments.${name}.secrets`, file);
    if (r.length) envRecipients[name] = r;
  }
  return { dir: path.dirname(file), recipients: recipientsAt(data.secrets, 'secrets', file), envRecipients, envNames: Object.keys(envs) };
}

/** The environment a command will run in: `-e`, else the only one (undefined when ambiguous). */
export function chosenEnv(envNames: string[], envName?: string): string | undefined {
  return envName ?? (envNames.length === 1 ? envNames[0] : undefined);
}

/** loadConfigFile, with `${secret:NAME}` filled from the secrets file of the chosen environment */
export async function loadConfigWithSecrets(file: string, envName?: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  const { abs, text } = readConfigText(file);
  const dir = path.dirname(abs);
  if (!usesSecretsFile(text)) return { file: abs, dir, raw: parseConfigText(text, abs, env) };
  const settings = secretsSettingsFromText(text, abs);
  const values = await secretsForEnv(settings, chosenEnv(settings.envNames, envName), () => loadIdentity(env));
  for (const v of Object.values(values)) registerSecret(v);
  const raw = parseConfigText(text, abs, env, { secret: (n) => (Object.hasOwn(values, n) ? values[n] : undefined) });
  return { file: abs, dir, raw, secrets: values };
}
