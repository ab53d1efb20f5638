/**
 * `ee-deploy diff`: what a deploy now would add, change and remove on each host, against the
 * manifest of the release `current` points at. Reads the local source (as it is: no build) and
 * one manifest per host; touches nothing anywhere.
 */
import type { ResolvedConfig, ResolvedHost } from '../config/resolve.js';
import { LocalTree } from '../release/local-tree.js';
import { ManifestError, parseManifest } from '../release/manifest.js';
import { scanSource } from '../release/scan.js';
import { liveReleaseScript, parseLiveRelease } from '../remote/steps/live-release.js';
import { diffContent, ignoredPath, type ContentDiff } from './compare.js';
import { onHosts } from '../transport/each-host.js';
import { lastLine } from '../util/text.js';

export interface HostDiff extends Partial<ContentDiff> {
  host: string;
  release?: string;
  /** first: nothing live yet (everything would be sent); unknown: live release without a manifest */
  state: 'diff' | 'same' | 'first' | 'unknown' | 'error';
  error?: string;
  exitCode?: number;
}

export async function diffHosts(config: ResolvedConfig, hosts: ResolvedHost[], o: { interactive: boolean }): Promise<HostDiff[]> {
  const ignore = ignoredPath(config.raw.shared.dirs.concat(config.raw.shared.files));
  const tree = await scanSource(config.sourceDir, config.raw.source.exclude);
  const local = LocalTree.of(tree);
  local.ensureHashes();
  const entries = local.manifestEntries();
  const res = await onHosts(hosts, { interactive: o.interactive, maxParallel: config.env.max_parallel }, async (t, h) => {
    const r = await t.exec(liveReleaseScript(h.path, { hashes: false }), { readOnly: true, maxStdout: 256 * 1024 * 1024 });
    if (r.code !== 0) throw new Error(`reading ${h.path} failed: ${lastLine(r.stderr) || `exit ${r.code}`}`);
    return parseLiveRelease(r.stdout);
  });
  return res.map(({ host, value, error }): HostDiff => {
    if (error || !value) return { host: host.id, state: 'error', error: error?.message, exitCode: error?.exitCode ?? 3 };
    if (!value.release) {
      const d = diffContent(entries, [], ignore);
      return { host: host.id, state: 'first', ...d };
    }
    let live;
    try {
      live = value.manifest ? parseManifest(value.manifest).entries : undefined;
    } catch (e) {
      if (!(e instanceof ManifestError)) throw e;
    }
    if (!live) return { host: host.id, release: value.release, state: 'unknown', error: `release ${value.release} has no usable manifest: a deploy would send everything`, ...diffContent(entries, [], ignore) };
    const d = diffContent(entries, live, ignore);
    return { host: host.id, release: value.release, state: d.add.length + d.change.length + d.remove.length ? 'diff' : 'same', ...d };
  });
}
