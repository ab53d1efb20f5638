/** `webhook`: pull mode on GitHub/GitLab pushes (the library is src/pipelines/). */
import type { Command } from 'commander';
import { registerSecret } from '../../config/secrets.js';
import { UsageError } from '../../errors.js';
import { pullRepo } from '../../pipelines/git.js';
import { WebhookServer } from '../../pipelines/webhook.js';
import { Watcher } from '../../pipelines/watcher.js';
import { globalOptions, loadConfig, type GlobalOptions } from '../context.js';
import { lazyRun } from '../lazy.js';
import { untilAborted } from '../../util/sleep.js';
import { cycleLogger, runService } from '../service.js';

export function register(program: Command): void {
  program
    .command('webhook [project]')
    .description('push mode: an HTTP endpoint for GitHub/GitLab push events; a push to the branch runs a watch cycle')
    .option('--port <n>', 'port to listen on (0: any free port)', '4700')
    .option('--host <address>', 'address to listen on (loopback unless you mean it)', '127.0.0.1')
    .option('--branch <name>', 'branch whose pushes deploy (default: webhook.branch, else main)')
    .addHelpText(
      'after',
      `
Examples:
  EE_WEBHOOK_SECRET=... ee-deploy webhook -e production            http://127.0.0.1:4700/
  ee-deploy webhook -e staging --port 9000 --branch develop

Needs \`webhook: { secret: "\${EE_WEBHOOK_SECRET}" }\` in ee-deploy.yaml. GitHub: payload URL
https://<your proxy>/, content type application/json, the same secret, "Just the push event".
GitLab: URL, the secret as "Secret token", "Push events". Unsigned or wrongly signed requests get
401 and do nothing; pushes to other branches 202 and are ignored; pushes during a deploy are
folded into one follow-up cycle. SIGTERM/SIGINT stop it cleanly with exit 0.`,
    )
    .action(lazyRun('webhook'));
}

export const run = async (project: string | undefined, _opts: unknown, cmd: Command) => {
  const o = globalOptions(cmd) as GlobalOptions & { port: string; host: string; branch?: string };
  await runService(o, async (signal) => {
    const port = Number(o.port);
    if (!/^\d+$/.test(o.port) || port > 65535) throw new UsageError(`--port: invalid port "${o.port}" (0-65535; 0 picks a free one)`);
    const config = await loadConfig(o, project);
    const secret = config.raw.webhook?.secret;
    if (!secret) throw new UsageError(`webhook needs a shared secret: add \`webhook: { secret: "\${EE_WEBHOOK_SECRET}" }\` to ${config.file}`);
    // a literal secret in the file is still a secret: never printed
    registerSecret(secret);
    const branch = o.branch ?? config.raw.webhook?.branch ?? 'main';
    const repo = await pullRepo([config.sourceDir, config.dir], branch);
    const log = cycleLogger(o, 'webhook');
    if (!isLoopback(o.host)) process.stderr.write(`warning: listening on ${o.host}, not loopback: anyone who can reach this port can post to it (signatures are checked); put it behind a TLS reverse proxy\n`);
    const watcher = new Watcher({ load: () => loadConfig(o, project), branch, verbose: o.verbose, signal });
    const server = new WebhookServer({ host: o.host, port, secret, branch, watcher, log: (line) => log.note(line), onCycle: log.cycle });
    let url: string;
    try {
      url = await server.start();
    } catch (e) {
      throw new UsageError(`cannot listen on ${o.host}:${port}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    log.note(`listening on ${url} for pushes to ${branch} of ${repo}: ${config.project} -> ${config.envName} (${config.hosts.map((h) => h.id).join(', ')})`, { url });
    await untilAborted(signal);
    // the abort already reached a running deploy (its cleanup runs); wait for it, queue nothing new
    await server.stop();
    log.note('stopped');
  });
};

function isLoopback(host: string): boolean {
  return /^(127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$/.test(host);
}
