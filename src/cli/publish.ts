/** After a deploy or rollback that recorded history: publish the metrics (config `metrics:`), warnings on stderr. */
import type { ResolvedConfig } from '../config/resolve.js';
import { publishAfterRun as publish } from '../metrics/publish.js';

export async function publishAfterRun(config: ResolvedConfig, o: { dryRun?: boolean; interactive: boolean }, failure?: unknown): Promise<void> {
  for (const w of await publish(config, o, failure)) process.stderr.write(`warning: ${w}\n`);
}
