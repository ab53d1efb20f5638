import type { Command } from 'commander';
import { startDashboard, isLoopbackHost } from '../../dashboard/server.js';
import { UsageError } from '../../errors.js';
import { globalOptions } from '../context.js';
import { lazyRun } from '../lazy.js';
import { untilAborted } from '../../util/sleep.js';
import { runCommand } from '../run.js';

export function register(program: Command): void {
  program
    .command('dashboard [projects...]')
    .description('a local web UI: what is live per host, locks, history, DORA metrics, deploy durations; Deploy, Roll back, Lock, Unlock')
    .option('--port <n>', 'port to listen on (0: any free port)', '4600')
    .option('--host <address>', 'address to listen on (loopback by default; anything else is reachable from the network)', '127.0.0.1')
    .addHelpText(
      'after',
      `
Prints its URL with a random token; requests without the token get 401. Runs until Ctrl-C.
Buttons run the same code as the CLI, with your user as the performer.

Examples:
  ee-deploy dashboard                    every registered project
  ee-deploy dashboard shop blog --port 8080`,
    )
    .action(lazyRun('dashboard'));
}

export const run = async (projects: string[], opts: { port: string; host: string }, cmd: Command) => {
  const o = globalOptions(cmd);
  await runCommand(o, async ({ signal }) => {
    const port = Number(opts.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a port number, got "${opts.port}"`);
    if (!isLoopbackHost(opts.host)) process.stderr.write(`warning: --host ${opts.host} is not a loopback address: anyone who can reach it and learns the URL can deploy and roll back\n`);
    const d = await startDashboard({ projects, host: opts.host, port, connectTimeoutMs: 5000, signal }).catch((e: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot listen on ${opts.host}:${port}: ${e.code === 'EADDRINUSE' ? 'the port is in use (try --port 0)' : e.message}`);
    });
    if (o.json) process.stdout.write(JSON.stringify({ url: d.url }) + '\n');
    else process.stdout.write(`ee-deploy dashboard: ${d.url}\n(Ctrl-C to stop)\n`);
    await untilAborted(signal);
    await d.close();
    return 0;
  });
};
