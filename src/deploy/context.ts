/** What every library operation (deploy, rollback, ...) gets from its caller. */
import type { ResolvedConfig, ResolvedHost } from '../config/resolve.js';
import type { Reporter } from '../ui/reporter.js';

export interface RunOptions {
  config: ResolvedConfig;
  reporter: Reporter;
  /** hosts to act on (default: every host of the environment) */
  hosts?: ResolvedHost[];
  /** stdin is a TTY: prompts allowed */
  interactive: boolean;
  dryRun?: boolean;
  lockWaitMs?: number;
  /** aborted on SIGINT/SIGTERM */
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
  /** go on where another project owns the path (and make this one its owner) */
  force?: boolean;
}
