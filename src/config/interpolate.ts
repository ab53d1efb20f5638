import { registerSecret } from './secrets.js';

export interface InterpolationResult {
  value: string;
  /** names of unset variables */
  missing: string[];
  usedSecrets: boolean;
}

/**
 * `${VAR}` -> environment value (registered as a secret); `$${VAR}` -> literal `${VAR}`;
 * a bare `$VAR` is left for the shell.
 */
export function interpolate(input: string, env: NodeJS.ProcessEnv = process.env): InterpolationResult {
  const missing: string[] = [];
  let usedSecrets = false;
  const value = input.replace(/\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, escape: string, name: string) => {
    if (escape) return whole.slice(1);
    // own keys only: `${constructor}` must be an unset variable, not Object.prototype's member
    const v = Object.hasOwn(env, name) ? env[name] : undefined;
    if (v === undefined) {
      missing.push(name);
      return '';
    }
    registerSecret(v);
    usedSecrets = true;
    return v;
  });
  return { value, missing, usedSecrets };
}
