/**
 * Pipeline step: the `env_file` secrets rendered into <path>/shared/<file> on every host, under
 * the lock and before the upload (whose prepare links it into the release like a shared file).
 * One exec per host; the content goes over stdin and is redacted from any error.
 */
import type { ResolvedConfig } from '../config/resolve.js';
import { envFileScript } from '../remote/steps/env-file.js';
import type { Transport } from '../transport/types.js';
import { execChecked } from './remote.js';

export async function writeEnvFile(config: ResolvedConfig, targets: { t: Transport; host: { path: string } }[], o: { dryRun?: boolean; signal?: AbortSignal }): Promise<void> {
  const ef = config.envFile;
  if (!ef || o.dryRun) return;
  await Promise.all(targets.map((s) => execChecked(s.t, envFileScript(s.host.path, ef.path), 'env_file', { stdin: ef.content, signal: o.signal })));
}
