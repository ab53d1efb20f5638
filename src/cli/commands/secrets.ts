/** `ee-deploy secrets set|get|list|rm|edit`: the encrypted secrets file beside the config. */
import type { Command } from 'commander';
import { lazyRun } from '../lazy.js';
import { readConfigText } from '../../config/load.js';
import { secretsSettingsFromText } from '../../config/secrets-file.js';
import { UsageError } from '../../errors.js';
import { editValues } from '../../secrets/edit.js';
import { checkName, readScope, scopeOf, writeScope, type SecretsSettings } from '../../secrets/store.js';
import { configPath, globalOptions, isInteractive, printJson, type GlobalOptions } from '../context.js';
import { runCommand } from '../run.js';

export function register(program: Command): void {
  const secrets = program
    .command('secrets')
    .description('encrypted secrets in ee-deploy.secrets.age (age, to secrets.recipients): ${secret:NAME} in the config, env_file on the servers')
    .addHelpText('after', `
Examples:
  printf %s "$TOKEN" | ee-deploy secrets set API_TOKEN          shared by every environment
  ee-deploy secrets set DB_PASSWORD -e production < pw.txt      production only
  ee-deploy secrets list -e production
  ee-deploy secrets get API_TOKEN
  ee-deploy secrets edit -e staging                             $EDITOR on NAME=VALUE lines
  ee-deploy secrets rm OLD_TOKEN

The identity comes from EE_DEPLOY_AGE_IDENTITY (a key or a key file), else ~/.config/ee-deploy/age.key.`);
  secrets.command('set <name>').description('set NAME to the value read from stdin (one trailing newline dropped)').action((...a: unknown[]) => lazyRun('secrets')('set', ...a));
  secrets.command('get <name>').description('print the value of NAME').action((...a: unknown[]) => lazyRun('secrets')('get', ...a));
  secrets.command('list').description('the names (never the values)').action((...a: unknown[]) => lazyRun('secrets')('list', ...a));
  secrets.command('rm <name>').description('remove NAME').action((...a: unknown[]) => lazyRun('secrets')('rm', ...a));
  secrets.command('edit').description('edit every value as NAME=VALUE lines in $EDITOR (a private temp file, removed after)').action((...a: unknown[]) => lazyRun('secrets')('edit', ...a));
}

function settingsFor(o: GlobalOptions): SecretsSettings {
  const { abs, text } = readConfigText(configPath(o));
  const s = secretsSettingsFromText(text, abs);
  if (o.env && !s.envNames.includes(o.env)) throw new UsageError(`unknown environment "${o.env}" (one of: ${s.envNames.join(', ')})`);
  return s;
}

const scopeName = (env?: string) => (env ? `environment ${env}` : 'every environment');

async function readStdin(name: string): Promise<string> {
  if (isInteractive()) {
    const { default: Enquirer } = await import('enquirer');
    const r = (await Enquirer.prompt({ type: 'password', name: 'v', message: `value of ${name}` })) as { v: string };
    return r.v;
  }
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

const secretsSet = async (name: string, _opts: unknown, cmd: Command) => {
  const o = globalOptions(cmd);
  await runCommand(o, async () => {
    checkName(name);
    const s = settingsFor(o);
    // the identity is checked (by decrypting) before stdin is read: a wrong key fails at once
    const values = await readScope(s, o.env);
    const value = await readStdin(name);
    values[name] = value;
    const scope = await writeScope(s, o.env, values);
    if (o.json) printJson({ action: 'secrets set', name, env: o.env ?? null, file: scope.file });
    else process.stdout.write(`set ${name} for ${scopeName(o.env)} in ${scope.file}\n`);
  });
};

const secretsGet = async (name: string, _opts: unknown, cmd: Command) => {
  const o = globalOptions(cmd);
  await runCommand(o, async () => {
    checkName(name);
    const values = await readScope(settingsFor(o), o.env);
    if (!(name in values)) throw new UsageError(`secret ${name} is not set for ${scopeName(o.env)}`);
    if (o.json) printJson({ name, env: o.env ?? null, value: values[name] });
    else process.stdout.write(`${values[name]}\n`);
  });
};

const secretsList = async (_opts: unknown, cmd: Command) => {
  const o = globalOptions(cmd);
  await runCommand(o, async () => {
    const s = settingsFor(o);
    const names = Object.keys(await readScope(s, o.env)).sort();
    if (o.json) printJson({ env: o.env ?? null, file: scopeOf(s, o.env).file, names });
    else process.stdout.write(names.length ? names.map((n) => `${n}\n`).join('') : `no secrets for ${scopeName(o.env)}\n`);
  });
};

const secretsRm = async (name: string, _opts: unknown, cmd: Command) => {
  const o = globalOptions(cmd);
  await runCommand(o, async () => {
    checkName(name);
    const s = settingsFor(o);
    const values = await readScope(s, o.env);
    if (!(name in values)) throw new UsageError(`secret ${name} is not set for ${scopeName(o.env)}`);
    delete values[name];
    await writeScope(s, o.env, values);
    if (o.json) printJson({ action: 'secrets rm', name, env: o.env ?? null });
    else process.stdout.write(`removed ${name} from ${scopeName(o.env)}\n`);
  });
};

const secretsEdit = async (_opts: unknown, cmd: Command) => {
  const o = globalOptions(cmd);
  await runCommand(o, async () => {
    const s = settingsFor(o);
    const current = await readScope(s, o.env);
    const r = await editValues(current, { header: `ee-deploy secrets for ${scopeName(o.env)}: NAME=VALUE per line; this file is removed when the editor exits` });
    if (r.changed) await writeScope(s, o.env, r.values);
    if (o.json) printJson({ action: 'secrets edit', env: o.env ?? null, changed: r.changed, names: Object.keys(r.values).sort() });
    else process.stdout.write(r.changed ? `saved ${Object.keys(r.values).length} secret(s) for ${scopeName(o.env)}\n` : 'no changes\n');
  });
};

const subcommands: Record<string, (...a: never[]) => Promise<void>> = { set: secretsSet, get: secretsGet, list: secretsList, rm: secretsRm, edit: secretsEdit };

export const run = async (sub: string, ...args: unknown[]) => {
  await (subcommands[sub] as (...a: unknown[]) => Promise<void>)(...args);
};
