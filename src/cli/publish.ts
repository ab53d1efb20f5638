/** After a deploy or rollback that recorded history: publish the metrics (config `metrics:`). */
import type { ResolvedConfig } from '../config/resolve.js';
import { DeployError, NeedsHumanError } from '../errors.js';
import { publishMetrics } from '../metrics/publish.js';

/**
 * `failure`: the error the run ended with. Runs that failed and were rolled back (or need a human)
 * wrote history, so they are published too; runs stopped before touching anything (lock held,
 * connection refused) or interrupted (the user wants out now) are not.
 */
export async function publishAfterRun(config: ResolvedConfig, o: { dryRun?: boolean; interactive: boolean }, failure?: unknown): Promise<void> {
  if (o.dryRun || !config.raw.metrics) return;
  if (failure !== undefined && !(failure instanceof DeployError || failure instanceof NeedsHumanError)) return;
  const warnings = await publishMetrics(config, { interactive: o.interactive });
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
}
