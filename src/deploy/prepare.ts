/** The prepare step of a deploy: preflight, then the upload + shared links + before_switch hooks on each host. */
import { DeployError, EeError } from '../errors.js';
import { parseHookFailure } from '../remote/steps/hooks.js';
import { prepareScript } from '../remote/steps/prepare.js';
import type { Reuse } from '../remote/steps/upload-base.js';
import { REQUIRED_TOOLS } from '../remote/server-tools.js';
import { hasTag, userOutput } from '../remote/protocol.js';
import { execChecked, tail } from './remote.js';
import type { HostSession } from './session.js';
import type { SourceTree } from '../release/scan.js';
import { UploadPlan } from '../release/upload-plan.js';
import { chooseCompression, GZIP_LEVEL, type CompressionChoice } from './compression.js';
import { type Run, hookEnv } from './run.js';
import { formatBytes } from '../util/format.js';
import { remoteOutput } from './hook-report.js';

export function preflight(run: Run, tree: SourceTree): void {
  if (run.o.dryRun) return;
  const hosts = [...run.toPrepare];
  for (const s of hosts) {
    if (s.state.missingTools.length) {
      throw new DeployError(`${s.host.id}: missing on the server: ${s.state.missingTools.join(', ')} (ee-deploy needs ${REQUIRED_TOOLS.join(', ')})`, { host: s.host.id, step: 'preflight' });
    }
  }
  // the disk check asks for what each host's upload writes (an incremental one: its changed
  // files), planned as prepareAll will plan it; the plan's hashes and diffs are reused there
  const cfg = run.o.config.raw;
  const plan = UploadPlan.create({ tree, id: run.id, targets: hosts.map((s) => ({ key: s, gzip: false as const, manifest: s.state.manifest })), shared: [...cfg.shared.dirs, ...cfg.shared.files], reuse: reuseOf(cfg.source), limit: 1 });
  for (const s of hosts) {
    if (s.state.availableKb === undefined) continue;
    const need = plan.diskNeed(s);
    const needKb = Math.ceil((need.bytes * 1.1) / 1024) + 1024;
    if (s.state.availableKb < needKb) {
      const parts = need.copy ? ` (${formatBytes(need.sent)} uploaded + ${formatBytes(need.copy)} for the release's own copy, source.reuse: copy)` : need.sent < tree.totalBytes ? ` (the changed files)` : '';
      throw new DeployError(`${s.host.id}: not enough disk space in ${s.host.path}: ${formatBytes(s.state.availableKb * 1024)} free, the release needs about ${formatBytes(need.bytes)}${parts}`, { host: s.host.id, step: 'preflight' });
    }
  }
}

export async function prepareAll(run: Run, tree: SourceTree, hosts: HostSession[]): Promise<void> {
  const { o } = run;
  const cfg = o.config.raw;
  const compression = await chooseAll(run, hosts);
  // one archive per group of hosts needing the same bytes, streamed to all of them at once;
  // only what changed since the last upload is sent (release/upload-plan.ts)
  const reuse = reuseOf(cfg.source);
  const upload = UploadPlan.create({
    tree,
    id: run.id,
    targets: hosts.map((s) => ({ key: s, gzip: compression.get(s)!.gzip ? GZIP_LEVEL : false, manifest: s.state.manifest })),
    shared: [...cfg.shared.dirs, ...cfg.shared.files],
    reuse,
    limit: o.config.env.max_parallel,
    dryRun: o.dryRun,
  });
  const u = upload.summary;
  const what = u.incremental ? `${u.sent} changed of ${tree.files} files (${formatBytes(u.sentBytes)}; ${u.linked} unchanged, ${u.reuse === 'hardlink' ? 'hard-linked' : 'copied on the server'})` : `${tree.files} files (${formatBytes(tree.totalBytes)})`;
  for (const s of hosts) {
    const c = s.state.baseChanged;
    if (c && !o.dryRun) o.reporter.warn(`${s.host.id}: the upload base in .ee-deploy/base was changed on the server (${c.count === 'missing' ? 'incomplete, or no find to check it' : `${c.count} entries newer than the upload`}): uploading everything`);
  }
  const step = o.reporter.step(`uploading ${what} to ${hosts.length} host(s)`);
  run.bytesSent = (run.bytesSent ?? 0) + (u.incremental ? u.sentBytes : tree.totalBytes);
  run.filesChanged = u.incremental ? u.sent : tree.files;
  const errors: EeError[] = [];
  // upload = until the archive is unpacked (the script says `uploaded`), prepare = links + hooks
  const t0 = Date.now();
  let uploadedAt = 0;
  await upload.forEach(async (s, send) => {
    let seen: string | undefined = '';
    const forward = remoteOutput(o.reporter, s.host.id, o.config.raw.hooks);
    const onStdout = (d: string) => {
      if (seen !== undefined) {
        seen += d;
        if (hasTag(seen, 'uploaded')) {
          uploadedAt = Math.max(uploadedAt, Date.now());
          seen = undefined;
        }
      }
      forward(d);
    };
    try {
      const r = await send((archive) => execChecked(
        s.t,
        prepareScript({
          root: s.host.path,
          id: run.id,
          gzip: archive.gzip,
          reuse: archive.reuse,
          sameAs: archive.sameAsBase ? archive.base : undefined,
          sharedDirs: cfg.shared.dirs,
          sharedFiles: cfg.shared.files,
          revision: run.revision,
          revisionTime: run.revisionTime ?? run.startedIso,
          hooks: cfg.hooks.before_switch,
          hooksTimeoutMs: cfg.hooks_timeout,
          hookEnv: hookEnv(run, s),
          lockToken: run.sessions.token,
        }),
        'prepare',
        { stdin: archive.stdin, onStdout, signal: o.signal },
      ));
      void r;
    } catch (e) {
      const err = e instanceof EeError ? e : new DeployError(`${s.host.id}: upload failed: ${(e as Error).message}`, { host: s.host.id, step: 'prepare' });
      err.host ??= s.host.id;
      const out = run.outcomes.get(s.host.id)!;
      out.state = 'failed';
      out.step = describeStep(err);
      out.error = err.message;
      if ('stdout' in err && !o.reporter.verbose) {
        const text = userOutput(err as unknown as { stdout: string; stderr: string; code: number | null });
        // output() shows only with --verbose: the lines that explain a failure are always shown
        if (text) o.reporter.info(`output on ${s.host.id} (last lines):\n${tail(text, 20)}`);
      }
      errors.push(err);
    }
  });
  upload.saveCaches();
  const end = Date.now();
  run.steps.upload = (run.steps.upload ?? 0) + ((uploadedAt || end) - t0);
  run.steps.prepare = (run.steps.prepare ?? 0) + (end - (uploadedAt || end));
  if (errors.length) {
    step.fail(`prepare failed on ${errors.length} of ${hosts.length} host(s)`);
    const first = errors[0];
    if (errors.length > 1) first.message += ` (and ${errors.length - 1} more host(s) failed)`;
    throw first;
  }
  step.succeed(`release ${run.id} prepared on ${hosts.length} host(s)`);
}

export function describeStep(e: EeError): string {
  const hook = parseHookFailure('stdout' in e ? String((e as { stdout: string }).stdout) : '');
  if (hook) return `${hook.phase} hook #${hook.index + 1}`;
  return e.step ?? 'prepare';
}

/**
 * Each host's compression, from its `compress` setting and, for `auto`, its measured link (the
 * measurement started when the host was opened, beside the open step). Shown with -v, and in
 * --json as hosts[].compression.
 */
async function chooseAll(run: Run, hosts: HostSession[]): Promise<Map<HostSession, CompressionChoice>> {
  const out = new Map<HostSession, CompressionChoice>();
  await Promise.all(
    hosts.map(async (s) => {
      const mode = s.host.compress ?? 'auto';
      const link = s.t.isLocal || mode !== 'auto' ? undefined : await s.t.measureLink?.();
      const c = chooseCompression(mode, { local: s.t.isLocal, link });
      out.set(s, c);
      const outcome = run.outcomes.get(s.host.id);
      if (outcome) outcome.compression = c;
      if (run.o.reporter.verbose) run.o.reporter.info(`${s.host.id}: release archive ${c.gzip ? 'gzip-compressed' : 'uncompressed'} (${c.reason})`);
    }),
  );
  return out;
}

/** `source.reuse`, or its older spelling `hard_links` */
export function reuseOf(source: { reuse?: Reuse; hard_links?: boolean }): Reuse {
  return source.reuse ?? (source.hard_links === true ? 'hardlink' : 'copy');
}
