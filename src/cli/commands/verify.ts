/** `ee-deploy verify`: the live release on every host against its manifest. */
import type { Command } from 'commander';
import { lazyRun } from '../lazy.js';
import { formatBytes } from '../../util/format.js';
import { itemLines } from '../table.js';
import { EeError, ExitCode, IntegrityError, type ExitCodeValue } from '../../errors.js';
import { verifyHosts } from '../../integrity/verify.js';
import { globalOptions, isInteractive, loadConfig, printJson, selectHosts } from '../context.js';
import { runCommand } from '../run.js';


export function register(program: Command): void {
  program
    .command('verify [project]')
    .description('hash the live release on every host (sha256sum on the server) against its manifest: modified, added, missing files; exit 7 on drift')
    .option('--release <id>', 'verify this release instead of the one current points at')
    .option('--hosts <list>', 'only these hosts (comma-separated)')
    .option('--role <role>', 'only hosts with this role or tag')
    .addHelpText('after', `
Examples:
  ee-deploy verify -e production
  ee-deploy verify shop --release 20261122093000 --json

Shared paths and REVISION, REVISION_TIME, BAD_RELEASE are not part of the comparison.
Exit codes: 0 clean, 7 drift or a release without a manifest, 3 a host could not be reached.`)
    .action(lazyRun('verify'));
}

export const run = async (project: string | undefined, opts: { release?: string }, cmd: Command) => {
  const o = globalOptions(cmd);
  await runCommand(o, async () => {
    const config = await loadConfig(o, project);
    const res = await verifyHosts(config, selectHosts(config, o), { interactive: isInteractive(), release: opts.release });
    const unreachable = res.find((r) => r.state === 'error');
    const bad = res.filter((r) => r.state === 'drift' || r.state === 'unverifiable');
    const doc = { project: config.project, env: config.envName, ok: !unreachable && !bad.length, hosts: res };
    // on failure the one JSON document is the error report, carrying this as its `result`
    if (o.json && doc.ok) printJson(doc);
    else if (!o.json)
      for (const r of res) {
        if (r.state === 'clean') process.stdout.write(`${r.host}: ${r.release} clean (${r.files} files match the manifest)\n`);
        else if (r.state === 'drift') {
          process.stdout.write(`${r.host}: ${r.release} DRIFT: ${r.modified!.length} modified, ${r.added!.length} added, ${r.missing!.length} missing\n`);
          process.stdout.write(itemLines('modified', r.modified!.map((m) => `${m.path} (${m.what})`), true) + itemLines('added   ', r.added!, true) + itemLines('missing ', r.missing!, true));
        } else process.stdout.write(`${r.host}: ${r.state === 'error' ? 'ERROR' : 'CANNOT VERIFY'} ${r.error}\n`);
      }
    if (doc.ok) return 0;
    const err = unreachable
      ? new EeError(unreachable.error ?? `${unreachable.host}: unreachable`, (unreachable.exitCode ?? ExitCode.connection) as ExitCodeValue, { host: unreachable.host })
      : new IntegrityError(`${bad.map((b) => `${b.host}: ${b.state === 'drift' ? `${b.release} differs from its manifest (${b.modified!.length + b.added!.length + b.missing!.length} paths)` : b.error}`).join('; ')}`);
    err.result = doc;
    throw err;
  }, { readOnly: true });
};

