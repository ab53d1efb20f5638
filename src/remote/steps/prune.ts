/**
 * The prune rule, after a deploy: keep the newest `keep_releases` releases without BAD_RELEASE,
 * plus the current one, plus the newest marked one (for inspection); every other release goes,
 * the other marked ones first, then the rest oldest first. So failed deploys, however many, never
 * push the last good release out. The client picks the ids (selectPrune); the finish step removes
 * them with these lines, re-checking on the server that none of them is current. A pruned
 * release's backup (<path>/backups/<id>, see migrate.ts) goes with it.
 */
import { say, tagged } from '../protocol.js';
import { assertReleaseId, compareReleaseIds, isReleaseId } from '../release-id.js';
import { READ_CURRENT, type Vars } from './common.js';

/** Releases to delete, in the order to delete them (names that are no release id are never selected). */
export function selectPrune(releases: { id: string; bad: boolean }[], keep: number, current: string | undefined): string[] {
  const sorted = releases.filter((r) => isReleaseId(r.id)).sort((a, b) => compareReleaseIds(a.id, b.id));
  const keepSet = new Set<string>(current ? [current] : []);
  const good = sorted.filter((r) => !r.bad);
  const bad = sorted.filter((r) => r.bad);
  for (const r of good.slice(-Math.max(1, keep))) keepSet.add(r.id);
  if (bad.length) keepSet.add(bad[bad.length - 1].id);
  return [...bad, ...good].map((r) => r.id).filter((id) => !keepSet.has(id));
}

/** sh lines removing `ids` (never the one `current` points at); needs DISCARD. */
export function pruneLines(ids: string[], vars: Vars): string[] {
  return ids.map((id, i) => {
    vars[`P${i}`] = assertReleaseId(id);
    return `${READ_CURRENT}; [ "$cur" = "releases/$P${i}" ] || { discard "$RELEASES/$P${i}"; [ -e "$RELEASES/$P${i}" ] || { rm -f "$MANIFESTS/$P${i}"; rm -rf "$R/backups/$P${i}"; ${say(`pruned $P${i}`)}; }; }`;
  });
}

/** the releases a script reports as pruned */
export function parsePruned(stdout: string): string[] {
  return tagged(stdout, 'pruned');
}
