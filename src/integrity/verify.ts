/**
 * `ee-deploy verify`: does the live release on every host still hold exactly what was deployed?
 * One exec per host hashes it (sha256sum on the server) and prints its manifest; the comparison
 * is local (compare.ts). Exit 7 on drift or on a release that cannot be verified (no manifest).
 */
import type { ResolvedConfig, ResolvedHost } from '../config/resolve.js';
import { ManifestError, parseManifest } from '../release/manifest.js';
import { liveReleaseScript, parseLiveRelease } from '../remote/steps/live-release.js';
import { compareLive, ignoredPath, type Drift } from './compare.js';
import { onHosts } from '../transport/each-host.js';
import { lastLine } from '../util/text.js';

export interface HostVerify extends Partial<Drift> {
  host: string;
  release?: string;
  /** clean: matches the manifest; drift; unverifiable: no release or no manifest; error: unreachable */
  state: 'clean' | 'drift' | 'unverifiable' | 'error';
  files?: number;
  error?: string;
  exitCode?: number;
}

/** stdout kept per host: 20,000 files of hashes, stats and the manifest fit well within it */
const MAX_STDOUT = 512 * 1024 * 1024;

export async function verifyHosts(config: ResolvedConfig, hosts: ResolvedHost[], o: { interactive: boolean; release?: string }): Promise<HostVerify[]> {
  const ignore = ignoredPath(config.raw.shared.dirs.concat(config.raw.shared.files));
  const res = await onHosts(hosts, { interactive: o.interactive, maxParallel: config.env.max_parallel }, async (t, h) => {
    const r = await t.exec(liveReleaseScript(h.path, { release: o.release, hashes: true }), { readOnly: true, maxStdout: MAX_STDOUT });
    if (r.code !== 0) throw new Error(`reading ${h.path} failed: ${lastLine(r.stderr) || `exit ${r.code}`}`);
    return parseLiveRelease(r.stdout);
  });
  return res.map(({ host, value, error }): HostVerify => {
    if (error || !value) return { host: host.id, state: 'error', error: error?.message, exitCode: error?.exitCode ?? 3 };
    if (!value.release) return { host: host.id, state: 'unverifiable', error: o.release ? `release ${o.release} does not exist` : 'no live release (current is not set)' };
    if (!value.manifest) return { host: host.id, release: value.release, state: 'unverifiable', error: `release ${value.release} has no manifest in .ee-deploy/manifests (deployed by another tool or an older ee-deploy)` };
    let entries;
    try {
      entries = parseManifest(value.manifest).entries;
    } catch (e) {
      if (!(e instanceof ManifestError)) throw e;
      return { host: host.id, release: value.release, state: 'unverifiable', error: `the manifest of ${value.release} is damaged: ${e.message}` };
    }
    const d = compareLive(entries, value.entries ?? new Map(), ignore);
    const drift = d.modified.length + d.added.length + d.missing.length > 0;
    return { host: host.id, release: value.release, state: drift ? 'drift' : 'clean', files: entries.filter((e) => e.type === 'f' && !ignore(e.path)).length, ...d };
  });
}
