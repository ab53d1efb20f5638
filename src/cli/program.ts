/** The commander program: global options and one small module per command. */
import { Command, Option } from 'commander';
import { register as registerCheck } from './commands/check.js';
import { register as registerDashboard } from './commands/dashboard.js';
import { register as registerDeploy } from './commands/deploy.js';
import { register as registerHistory } from './commands/history.js';
import { register as registerInit } from './commands/init.js';
import { register as registerLock } from './commands/lock.js';
import { register as registerMaintenance } from './commands/maintenance.js';
import { register as registerMetrics } from './commands/metrics.js';
import { register as registerNotify } from './commands/notify.js';
import { register as registerReleases } from './commands/releases.js';
import { register as registerRollback } from './commands/rollback.js';
import { register as registerUnlock } from './commands/unlock.js';
import { register as registerWatch } from './commands/watch.js';
import { register as registerWebhook } from './commands/webhook.js';
import { register as registerSecrets } from './commands/secrets.js';
import { register as registerVerify } from './commands/verify.js';
import { register as registerDiff } from './commands/diff.js';
import { register as registerApprovals } from './commands/approvals.js';
import { register as registerApprove } from './commands/approve.js';
import { register as registerAudit } from './commands/audit.js';

export const VERSION = '0.1.0';

export function buildProgram(): Command {
  const program = new Command('ee-deploy')
    .version(VERSION)
    .description('Deploy applications to SSH servers safely and fast: atomic releases, health checks, automatic rollback.')
    .option('-c, --config <file>', 'config file (default ./ee-deploy.yaml, or the registered project)')
    .option('-e, --env <name>', 'environment (optional when the config has only one)')
    .option('--json', 'print one JSON document on stdout and nothing else')
    .option('--yes', 'answer yes to confirmations (required off a terminal for rollback)')
    .option('--dry-run', 'deploy/rollback: print the plan and the remote commands; change nothing')
    .option('-v, --verbose', 'show hook/check output and stack traces')
    .addOption(new Option('--no-color', 'no colours (also NO_COLOR=1)'))
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      `
Examples:
  ee-deploy init                                 write ee-deploy.yaml
  ee-deploy check                                connect to every host and check it is ready
  ee-deploy deploy -e production                 deploy (build, upload, switch, health-check)
  ee-deploy rollback shop --yes                  previous release of a registered project
  ee-deploy releases / history                   what is on the servers, who deployed what
  ee-deploy lock -m "incident" / unlock          freeze and unfreeze deploys
  ee-deploy maintenance on -m "back at 2pm"      503 page on (off / status)
  ee-deploy watch -e production                  deploy whenever main moves (pull mode)
  ee-deploy webhook -e production                deploy on GitHub/GitLab pushes

Exit codes: 0 ok, 1 failed (hosts back where they were), 2 usage/config, 3 connection/host key,
4 locked, 5 failed and rollback failed (needs a human), 6 refused by policy, 7 integrity check
failed (verify, audit verify), 130 interrupted.`,
    );
  program.configureOutput({
    writeErr: (s) => process.stderr.write(s.startsWith('error:') ? s : s),
  });
  for (const register of [registerInit, registerCheck, registerDeploy, registerRollback, registerReleases, registerHistory, registerLock, registerUnlock, registerMaintenance, registerNotify, registerMetrics, registerDashboard, registerWatch, registerWebhook, registerSecrets, registerVerify, registerDiff, registerApprovals, registerApprove, registerAudit]) register(program);
  return program;
}
