/** Which release is "previous". Unit-tested without SSH. (The prune rule: remote/steps/prune.ts.) */
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
