/**
 * `deploy --if-changed`: is the content about to be uploaded what every selected host already
 * runs? "Content" is the release manifest (release/manifest.ts): every path, type, mode, size
 * and content hash of the source after `exclude`, the same digest the upload writes beside each
 * release. A host whose `current` release has no manifest (made by Capistrano or by hand) or a
 * different one counts as changed. The commit is not compared: a commit that changes nothing in
 * `source.dir` (docs, CI files) deploys nothing.
 */
import { LocalTree } from '../release/local-tree.js';
import { serializeManifest } from '../release/manifest.js';
import type { SourceTree } from '../release/scan.js';
import type { GitInfo } from './identity.js';
import type { DeployResult } from './records.js';
import type { DeployOptions } from './run.js';
import { releaseLocks, type HostSession, type Sessions } from './session.js';

/** the manifest digest of the local tree (hashes come from the hash cache when it vouches for them) */
export function localDigest(tree: SourceTree): string {
  const local = LocalTree.of(tree);
  local.ensureHashes();
  return serializeManifest(local.manifestEntries()).digest;
}

export interface LiveContent {
  host: string;
  current?: string;
  digest?: string;
}

/** undefined when some host does not run `digest`; else what each host runs */
export function unchangedOn(hosts: HostSession[], digest: string): LiveContent[] | undefined {
  const live = hosts.map((s) => ({ host: s.host.id, current: s.state.current, digest: s.state.manifest?.release === s.state.current ? s.state.manifest?.digest : undefined }));
  return live.length > 0 && live.every((h) => h.current !== undefined && h.digest === digest) ? live : undefined;
}

/** every selected host runs this content: unlock, report `unchanged`, nothing else (no history, no notification) */
export async function ifUnchanged(o: DeployOptions, sessions: Sessions, tree: SourceTree, r: { user: string; git: GitInfo; started: number; warnings: string[] }): Promise<DeployResult | undefined> {
  const live = unchangedOn(sessions.hosts, localDigest(tree));
  if (!live) {
    o.reporter.info('--if-changed: the content differs from what runs on at least one host; deploying');
    return undefined;
  }
  try {
    await releaseLocks(sessions);
  } finally {
    await sessions.close();
  }
  const ids = [...new Set(live.map((h) => h.current!))];
  o.reporter.success(`unchanged: every host already runs this content (${ids.length === 1 ? `release ${ids[0]}` : `releases ${ids.join(', ')}`}); nothing deployed`);
  return {
    ok: true,
    action: 'deploy',
    project: o.config.project,
    env: o.config.envName,
    release: ids.length === 1 ? ids[0] : '',
    status: 'unchanged',
    strategy: o.config.env.strategy,
    commit: r.git.sha,
    user: r.user,
    durationMs: Date.now() - r.started,
    hosts: live.map((h) => ({ host: h.host, state: 'unchanged', current: h.current })),
    warnings: r.warnings,
    dryRun: o.dryRun || undefined,
  };
}
