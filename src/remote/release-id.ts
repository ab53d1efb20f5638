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

/** A new id that collides with none of `existing` (on any host). */
export function newReleaseId(existing: Iterable<string>, date: Date = new Date()): string {
  const taken = new Set(existing);
  const base = timestampId(date);
  // never go "back in time" below an existing id, so sorting by name stays sorting by age
  const newest = [...taken].filter(isReleaseId).sort(compareReleaseIds).pop();
  let id = newest && compareReleaseIds(base, newest) <= 0 && newest.slice(0, 14) === base ? newest : base;
  if (!taken.has(id)) return id;
  const stem = id.slice(0, 14);
  for (let n = 1; n < 10_000; n++) {
    id = `${stem}-${n}`;
    if (!taken.has(id)) return id;
  }
  throw new Error('no free release id');
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
