/** Pure decisions: which release is "previous", what to prune. Unit-tested without SSH. */
import { compareReleaseIds } from '../remote/release-id.js';

export interface ReleaseInfo {
  id: string;
  bad: boolean;
}

/** SPEC: the newest release older than `current` that has no BAD_RELEASE marker. */
export function previousRelease(releases: ReleaseInfo[], current: string | undefined): string | undefined {
  const older = releases
    .filter((r) => !r.bad && (current === undefined || compareReleaseIds(r.id, current) < 0))
    .sort((a, b) => compareReleaseIds(a.id, b.id));
  return older.pop()?.id;
}

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
