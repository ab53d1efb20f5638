/** Release ids: UTC `YYYYMMDDHHMMSS`, with `-N` appended only on collision (SPEC section 4). */
export const RELEASE_ID = /^\d{14}(-\d{1,4})?$/;

export function isReleaseId(s: string): boolean {
  return RELEASE_ID.test(s);
}

export function assertReleaseId(s: string): string {
  if (!isReleaseId(s)) throw new Error(`invalid release id ${JSON.stringify(s)} (expected 14 digits, e.g. 20261122093000)`);
  return s;
}

export function timestampId(date: Date = new Date()): string {
  return date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/**
 * A new id that collides with none of `existing` (on any host) and sorts after all of them, so
 * sorting by name stays sorting by age: within the same second (or when a clock is behind the one
 * that made the newest release) it is the newest id's stem with the next suffix.
 */
export function newReleaseId(existing: Iterable<string>, date: Date = new Date()): string {
  const base = timestampId(date);
  const newest = sortReleaseIds(existing).pop();
  if (!newest || compareReleaseIds(base, newest) > 0) return base;
  const [stem, suffix = '0'] = newest.split('-');
  const n = Number(suffix) + 1;
  if (n > 9999) throw new Error(`no free release id after ${newest}`);
  return `${stem}-${n}`;
}

export function compareReleaseIds(a: string, b: string): number {
  const [as, an = '0'] = a.split('-');
  const [bs, bn = '0'] = b.split('-');
  if (as !== bs) return as < bs ? -1 : 1;
  return Number(an) - Number(bn);
}

export function sortReleaseIds(ids: Iterable<string>): string[] {
  return [...ids].filter(isReleaseId).sort(compareReleaseIds);
}
