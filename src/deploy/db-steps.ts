/**
 * `backup:` and `migrate:` in a deploy, and `rollback --restore-backup`: once per run, on one
 * host (migrate.host, default the first selected), under the run's lock. In a deploy they run
 * after every host is prepared and before any switch, so a failure (exit 1) leaves every
 * `current` where it was; the release is then removed like any failed prepare, while the backup
 * taken before it stays in <path>/backups/<id>/ until a later deploy succeeds.
 */
import type { ResolvedConfig, ResolvedHost } from '../config/resolve.js';
import { UsageError } from '../errors.js';
import { backupDir, dbStepScript, parseDbStep, type DbStep } from '../remote/steps/migrate.js';
import type { Reporter } from '../ui/reporter.js';
import { execChecked } from './remote.js';
import type { HostSession } from './session.js';

/** The host the database steps run on, among `hosts` (usage error before anything is touched). */
export function dbHost(config: ResolvedConfig, hosts: ResolvedHost[]): ResolvedHost | undefined {
  const { migrate, backup } = config.raw;
  if (!migrate && !backup) return undefined;
  const want = migrate?.host;
  if (want === undefined) return hosts[0];
  const h = hosts.find((x) => x.id === want || x.name === want);
  if (!h) {
    const inEnv = config.hosts.some((x) => x.id === want || x.name === want);
    throw new UsageError(
      inEnv
        ? `migrate.host ${want} is not among the selected hosts (${hosts.map((x) => x.id).join(', ')}); select it too, migrations run there`
        : `migrate.host ${want} is not a host of environment ${config.envName} (hosts: ${config.hosts.map((x) => x.id).join(', ')})`,
    );
  }
  return h;
}

export interface DbRun {
  config: ResolvedConfig;
  reporter: Reporter;
  session: HostSession;
  token: string;
  env: Record<string, string>;
  signal?: AbortSignal;
  dryRun?: boolean;
}

/** deploy: backup (when configured), then migrate (when configured), in release `id` */
export async function backupAndMigrate(r: DbRun, id: string): Promise<void> {
  const { backup, migrate } = r.config.raw;
  if (backup) await runStep(r, 'backup', backup.command, id, id, `backup on ${r.session.host.id} into ${backupDir(r.session.host.path, id)}`);
  if (migrate) await runStep(r, 'migrate', migrate.command, id, id, `migrate on ${r.session.host.id}`);
}

/** rollback --restore-backup: restore the backup taken before `leaving` was deployed, cwd = release `to` */
export async function restoreBackup(r: DbRun, leaving: string, to: string): Promise<void> {
  const restore = r.config.raw.backup?.restore;
  if (!restore) throw new UsageError('--restore-backup needs `backup: { restore: ... }` in the config');
  await runStep(r, 'restore', restore, to, leaving, `restore on ${r.session.host.id} from ${backupDir(r.session.host.path, leaving)}`);
}

async function runStep(r: DbRun, step: DbStep, command: string, release: string, backupOf: string, what: string): Promise<void> {
  if (r.dryRun) {
    r.reporter.info(`[dry-run] ${what}: ${command}`);
    return;
  }
  const t0 = Date.now();
  const s = r.reporter.step(what);
  try {
    const res = await execChecked(r.session.t, dbStepScript({ step, root: r.session.host.path, release, backupOf, command, env: r.env, lockToken: r.token }), step, {
      onStdout: (d) => r.reporter.output(r.session.host.id, d),
      signal: r.signal,
    });
    void parseDbStep(res.stdout, step);
    s.succeed(`${step} on ${r.session.host.id} ok ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  } catch (e) {
    s.fail(`${step} on ${r.session.host.id} failed`);
    const out = (e as { stdout?: string }).stdout;
    if (step === 'restore' && out && parseDbStep(out, step).noBackup) {
      throw new UsageError(`${r.session.host.id}: no backup of release ${backupOf} in ${backupDir(r.session.host.path, backupOf)} (it is taken by deploys with \`backup:\` configured); nothing was changed`);
    }
    throw e;
  }
}
