import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { parseConfigText } from '../../config/load.js';
import { registerProject } from '../../config/registry.js';
import { PROJECT_NAME } from '../../config/schema.js';
import { UsageError } from '../../errors.js';
import { globalOptions, isInteractive, printJson } from '../context.js';
import { runCommand } from '../run.js';
import { lazyRun } from '../lazy.js';

export function register(program: Command): void {
  program
    .command('init')
    .description('write a commented ee-deploy.yaml (prompts on a terminal; flags otherwise)')
    .option('--project <name>', 'project name (default: this directory name)')
    .option('--host <host>', 'server host name or ~/.ssh/config alias; `local` for this machine', 'local')
    .option('--user <user>', 'SSH user', 'deploy')
    .option('--path <path>', 'deploy directory on the server')
    .option('--source <dir>', 'directory to upload', '.')
    .option('--environment <name>', 'environment name', 'production')
    .option('--force', 'overwrite an existing file')
    .addHelpText('after', `
Examples:
  ee-deploy init                                     asks on a terminal
  ee-deploy init --project shop --host web1.example.com --user deploy --path /srv/shop
  ee-deploy init -c deploy/ee-deploy.yaml --host local --path ./.deploy/shop`)
    .action(lazyRun('init'));
}

export const run = async (opts: { project?: string; host: string; user: string; path?: string; source: string; environment: string; force?: boolean }, cmd: Command) => {
  const o = globalOptions(cmd);
  await runCommand(o, async () => {
    const file = path.resolve(o.config ?? 'ee-deploy.yaml');
    if (existsSync(file) && !opts.force) throw new UsageError(`${file} already exists (pass --force to overwrite)`);
    const dirName = path.basename(path.dirname(file)).toLowerCase().replace(/[^a-z0-9._-]/g, '-').replace(/^[^a-z0-9]+/, '') || 'app';
    let a: InitAnswers = {
      project: opts.project ?? dirName,
      env: opts.environment,
      host: opts.host,
      user: opts.user,
      path: opts.path ?? (opts.host === 'local' ? `./.deploy/${opts.project ?? dirName}` : `/srv/${opts.project ?? dirName}`),
      source_dir: opts.source,
    };
    if (isInteractive() && !o.yes && !o.json) {
      const { default: Enquirer } = await import('enquirer');
      a = (await Enquirer.prompt([
        { type: 'input', name: 'project', message: 'Project name', initial: a.project, validate: (v: string) => PROJECT_NAME.test(v) || 'lowercase letters, digits, . _ -' },
        { type: 'input', name: 'env', message: 'Environment', initial: a.env },
        { type: 'input', name: 'host', message: 'Server (host, ssh alias, or `local`)', initial: a.host },
        { type: 'input', name: 'user', message: 'SSH user', initial: a.user },
        { type: 'input', name: 'path', message: 'Deploy directory on the server', initial: a.path },
        { type: 'input', name: 'source_dir', message: 'Directory to upload', initial: a.source_dir },
      ])) as InitAnswers;
    }
    if (!PROJECT_NAME.test(a.project)) throw new UsageError(`invalid project name "${a.project}" (lowercase letters, digits, . _ -; max 63)`);
    const text = templateText().replace(/\{\{(\w+)\}\}/g, (m, k: string) => (k in a ? yamlScalar(String(a[k as keyof InitAnswers])) : m));
    parseConfigText(text, file); // never write a file that would not load
    writeFileSync(file, text);
    registerProject(a.project, file);
    if (o.json) printJson({ ok: true, file, project: a.project });
    else process.stdout.write(`wrote ${file}\nnext: ee-deploy check${o.config ? ` -c ${o.config}` : ''}, then ee-deploy deploy\n`);
  });
};

interface InitAnswers {
  project: string;
  env: string;
  host: string;
  user: string;
  path: string;
  source_dir: string;
}

declare const __EE_TEMPLATE__: string | undefined;

/**
 * templates/ee-deploy.yaml: embedded in the bundle and the binary (scripts/build.mjs defines
 * __EE_TEMPLATE__), so they work without the repository; read from the file when running sources.
 */
function templateText(): string {
  if (typeof __EE_TEMPLATE__ === 'string') return __EE_TEMPLATE__;
  const p = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../../templates/ee-deploy.yaml');
  if (existsSync(p)) return readFileSync(p, 'utf8');
  throw new UsageError(`templates/ee-deploy.yaml not found (${p})`);
}

function yamlScalar(s: string): string {
  return /^[A-Za-z0-9_./@-][A-Za-z0-9_./@ -]*$/.test(s) && !/^(true|false|null|yes|no|~)$/i.test(s) ? s : JSON.stringify(s);
}
