/** The `rollback` command (registered in ../commands/rollback.ts, loaded on first use through ../core.ts). */
import type { Command } from 'commander';
import { rollback, type RollbackPlanEntry } from '../../deploy/rollback.js';
import { UsageError } from '../../errors.js';
import { isReleaseId } from '../../remote/release-id.js';
import { globalOptions, isInteractive, loadConfig, lockWaitMs, printJson, reporterFor, selectHosts } from '../context.js';
import { runCommand } from '../run.js';

export const rollbackAction = async (a: string | undefined, b: string | undefined, _opts: unknown, cmd: Command) => {
  const o = globalOptions(cmd) as ReturnType<typeof globalOptions> & { message?: string };
  await runCommand(o, async ({ signal }) => {
    let project = a;
    let release = b;
    if (a !== undefined && b === undefined && isReleaseId(a)) {
      project = undefined;
      release = a;
    }
    const interactive = isInteractive();
    if (!o.yes && !interactive && !o.dryRun) throw new UsageError('rollback needs --yes when stdin is not a terminal');
    const config = loadConfig(o, project);
    const reporter = await reporterFor(o);
    try {
      const confirm =
        o.yes || o.dryRun
          ? undefined
          : async (plan: RollbackPlanEntry[]) => {
              reporter.stop();
              const { default: Enquirer } = await import('enquirer');
              const target = [...new Set(plan.map((p) => p.to))].join(', ');
              const answer = (await Enquirer.prompt({ type: 'confirm', name: 'ok', initial: false, message: `Roll back ${config.project} (${config.envName}) on ${plan.length} host(s) to ${target}?` })) as { ok: boolean };
              return answer.ok;
            };
      const result = await rollback({ config, reporter, hosts: selectHosts(config, o), interactive, dryRun: o.dryRun, lockWaitMs: lockWaitMs(o), signal, release, message: o.message, confirm });
      if (o.json) printJson(result);
      return result.status === 'cancelled' ? 1 : 0;
    } finally {
      reporter.stop();
    }
  });
};

