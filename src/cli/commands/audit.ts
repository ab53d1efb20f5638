/** `ee-deploy audit verify`: the signed, hash-chained history on every host. */
import type { Command } from 'commander';
import { auditHosts } from '../../audit/verify.js';
import { EeError, ExitCode, IntegrityError, type ExitCodeValue } from '../../errors.js';
import { globalOptions, isInteractive, loadConfig, printJson, selectHosts } from '../context.js';
import { lazyRun } from '../lazy.js';
import { runCommand } from '../run.js';

export function register(program: Command): void {
  const audit = program.command('audit').description('the tamper-evident history: every line hash-chained (prev) and SSH-signed (sig)');
  audit
    .command('verify [project]')
    .description('check every host\'s history: edited, inserted, deleted or reordered lines, signatures, signers, and a history shorter than this machine last verified')
    .option('--allowed-signers <file>', 'git\'s allowed_signers format (default: audit.allowed_signers)')
    .option('--hosts <list>', 'only these hosts (comma-separated)')
    .addHelpText('after', `
Examples:
  ee-deploy audit verify -e production
  ee-deploy audit verify --allowed-signers .ee-deploy/allowed_signers --json

Exit codes: 0 intact, 7 a broken, unsigned or shortened history, 3 a host could not be reached.`)
    .action(lazyRun('audit'));
}

export const run = async (project: string | undefined, opts: { allowedSigners?: string }, cmd: Command) => {
  const o = globalOptions(cmd);
  await runCommand(o, async () => {
    const config = await loadConfig(o, project);
    const res = await auditHosts(config, selectHosts(config, o), { interactive: isInteractive(), allowedSigners: opts.allowedSigners });
    const unreachable = res.find((r) => r.state === 'error');
    const broken = res.filter((r) => r.state === 'broken');
    const doc = { project: config.project, env: config.envName, ok: !unreachable && !broken.length, hosts: res };
    if (o.json && doc.ok) printJson(doc);
    else if (!o.json)
      for (const r of res) {
        if (r.state === 'intact') process.stdout.write(`${r.host}: ${r.lines} lines intact (signed by ${r.signers!.join(', ')})\n`);
        else if (r.state === 'empty') process.stdout.write(`${r.host}: no history yet\n`);
        else if (r.state === 'broken') process.stdout.write(`${r.host}: BROKEN at line ${r.problem!.line} of ${r.lines}: ${r.problem!.reason}\n`);
        else process.stdout.write(`${r.host}: ERROR ${r.error}\n`);
      }
    if (doc.ok) return 0;
    const err = unreachable
      ? new EeError(unreachable.error ?? `${unreachable.host}: unreachable`, (unreachable.exitCode ?? ExitCode.connection) as ExitCodeValue, { host: unreachable.host })
      : new IntegrityError(broken.map((b) => `${b.host}: history line ${b.problem!.line}: ${b.problem!.reason}`).join('; '));
    err.result = doc;
    throw err;
  }, { readOnly: true });
};
