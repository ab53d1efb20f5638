/** The `lock` commands (registered in ../commands/lock.ts, loaded on first use through ../core.ts). */
import type { Command } from 'commander';
import { lockHosts, unlockHosts } from '../../deploy/inspect.js';
import { performer } from '../../deploy/identity.js';
import { globalOptions, isInteractive, loadConfig, printJson, selectHosts } from '../context.js';
import { runCommand } from '../run.js';

export const lockAction = async (project: string | undefined, _opts: unknown, cmd: Command) => {
  const o = globalOptions(cmd) as ReturnType<typeof globalOptions> & { message?: string };
  await runCommand(o, async () => {
    const config = loadConfig(o, project);
    const res = await lockHosts(config, selectHosts(config, o), { interactive: isInteractive(), user: await performer(config.dir), message: o.message });
    if (o.json) printJson({ action: 'lock', hosts: res });
    else for (const r of res) process.stdout.write(`${r.host}: ${r.ok ? 'locked' : `NOT locked: ${r.error}`}\n`);
    const failed = res.filter((r) => !r.ok) as { exitCode?: number; error?: string }[];
    if (failed.length) {
      process.stderr.write(`error: ${failed[0].error}\n`);
      return failed[0].exitCode ?? 1;
    }
    return 0;
  });
};

export const unlockAction = async (project: string | undefined, _opts: unknown, cmd: Command) => {
  const o = globalOptions(cmd);
  await runCommand(o, async () => {
    const config = loadConfig(o, project);
    const res = await unlockHosts(config, selectHosts(config, o), { interactive: isInteractive() });
    if (o.json) printJson({ action: 'unlock', hosts: res });
    else for (const r of res) process.stdout.write(`${r.host}: ${!r.ok ? `ERROR ${r.error}` : r.held ? `unlocked (was held by ${r.held})` : 'was not locked'}\n`);
    const failed = res.filter((r) => !r.ok);
    if (failed.length) {
      process.stderr.write(`error: ${failed[0].error}\n`);
      return failed[0].exitCode ?? 1;
    }
    return 0;
  });
};

