import { registerSecret } from './secrets.js';

export interface InterpolationResult {
  value: string;
  /** names of unset variables */
  missing: string[];
  /** names of `${secret:NAME}` references that have no value */
  missingSecrets: string[];
  usedSecrets: boolean;
  /** the values filled in, in order */
  values: string[];
}

/** `${secret:NAME}` values (from the encrypted secrets file), or undefined when none were loaded */
export type SecretLookup = (name: string) => string | undefined;

/**
 * `${VAR}` -> environment value and `${secret:NAME}` -> secrets-file value (both registered as
 * secrets); `$${...}` -> the literal text; a bare `$VAR` is left for the shell.
 */
export function interpolate(input: string, env: NodeJS.ProcessEnv = process.env, secret?: SecretLookup): InterpolationResult {
  const missing: string[] = [];
  const missingSecrets: string[] = [];
  let usedSecrets = false;
  const values: string[] = [];
  const value = input.replace(/\$(\$?)\{(secret:)?([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, escape: string, fromFile: string | undefined, name: string) => {
    if (escape) return whole.slice(1);
    // own keys only: `${constructor}` must be an unset variable, not Object.prototype's member
    const v = fromFile ? secret?.(name) : Object.hasOwn(env, name) ? env[name] : undefined;
    if (v === undefined) {
      (fromFile ? missingSecrets : missing).push(name);
      return '';
    }
    registerSecret(v);
    values.push(v);
    usedSecrets = true;
    return v;
  });
  return { value, missing, missingSecrets, usedSecrets, values };
}

/** does this config text use the secrets file (`${secret:...}` or `env_file`)? */
export function usesSecretsFile(text: string): boolean {
  return /\$\{secret:/.test(text) || /^\s*env_file\s*:/m.test(text);
}
