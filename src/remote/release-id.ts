/**
 * Release ids: UTC `YYYYMMDDHHMMSS`. New ids never carry a suffix (Capistrano's cleanup skips any
 * name that is not 14 digits); `-N` suffixes made by older versions are still read, sorted and
 * rolled back to.
 */
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
 * sorting by name stays sorting by age: within the same second (or when this clock is behind the
 * one that made the newest release) it is the second after the newest id's time.
 */
export function newReleaseId(existing: Iterable<string>, date: Date = new Date()): string {
  const base = timestampId(date);
  const newest = sortReleaseIds(existing).pop();
  if (!newest || compareReleaseIds(base, newest) > 0) return base;
  const stem = newest.split('-')[0];
  const t = Date.UTC(+stem.slice(0, 4), +stem.slice(4, 6) - 1, +stem.slice(6, 8), +stem.slice(8, 10), +stem.slice(10, 12), +stem.slice(12, 14));
  // a stem that is no real time (month 13...) still gets an id after it: the next number
  const next = Number.isNaN(t) || timestampId(new Date(t)) !== stem ? String(Number(stem) + 1) : timestampId(new Date(t + 1000));
  if (!/^\d{14}$/.test(next)) throw new Error(`no free release id after ${newest}`);
  return next;
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
