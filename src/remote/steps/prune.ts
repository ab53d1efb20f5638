/**
 * The prune rule: after a successful deploy, keep the newest `keep_releases` releases (the
 * current one and any protected one always stay, and count toward `keep`); remove the rest,
 * oldest first. The client picks the ids (selectPrune); the finish step removes them with these
 * lines, re-checking on the server that none of them is current.
 */
import { say, tagged } from '../protocol.js';
import { assertReleaseId, compareReleaseIds } from '../release-id.js';
import { READ_CURRENT, type Vars } from './common.js';

/**
 * Releases to delete so that `keep` remain, oldest first. The current release and anything in
 * `protect` are never pruned and count toward `keep`.
 */
export function selectPrune(ids: string[], keep: number, current: string | undefined, protect: string[] = []): string[] {
  const sorted = [...ids].sort(compareReleaseIds);
  const keepSet = new Set<string>([...protect, ...(current ? [current] : [])].filter((x) => sorted.includes(x)));
  for (let i = sorted.length - 1; i >= 0 && keepSet.size < keep; i--) keepSet.add(sorted[i]);
  return sorted.filter((id) => !keepSet.has(id));
}

/** sh lines removing `ids` (never the one `current` points at); needs DISCARD. */
export function pruneLines(ids: string[], vars: Vars): string[] {
  return ids.map((id, i) => {
    vars[`P${i}`] = assertReleaseId(id);
    return `${READ_CURRENT}; [ "$cur" = "releases/$P${i}" ] || { discard "$RELEASES/$P${i}"; [ -e "$RELEASES/$P${i}" ] || { rm -f "$MANIFESTS/$P${i}"; ${say(`pruned $P${i}`)}; }; }`;
  });
}

/** the releases a script reports as pruned */
export function parsePruned(stdout: string): string[] {
  return tagged(stdout, 'pruned');
}
