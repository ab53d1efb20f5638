/** The `deploy` command (registered in ../commands/deploy.ts, loaded on first use through ../core.ts). */
import type { Command } from 'commander';
import { registerProject } from '../../config/registry.js';
import { deploy } from '../../deploy/deploy.js';
import { globalOptions, isInteractive, loadConfig, lockWaitMs, printJson, reporterFor, selectHosts } from '../context.js';
import { runCommand } from '../run.js';

export const deployAction = async (project: string | undefined, _opts: unknown, cmd: Command) => {
  const o = globalOptions(cmd) as ReturnType<typeof globalOptions> & { message?: string; canaryOnly?: boolean; promote?: boolean };
  await runCommand(o, async ({ signal }) => {
    const config = loadConfig(o, project);
    const reporter = await reporterFor(o);
    try {
      const result = await deploy({ config, reporter, hosts: selectHosts(config, o), interactive: isInteractive(), dryRun: o.dryRun, lockWaitMs: lockWaitMs(o), signal, message: o.message, canaryOnly: o.canaryOnly, promote: o.promote });
      if (!o.dryRun) registerProject(config.project, config.file);
      if (o.json) printJson(result);
      return 0;
    } finally {
      reporter.stop();
    }
  });
};

