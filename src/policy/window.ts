/**
 * Deploy windows (`Mon-Fri 09:00-17:00 Europe/Berlin`) and freezes, evaluated in the window's
 * IANA time zone with the platform's Intl data, so daylight-saving changes move the window with
 * the local clock. Pure: `now` is always passed in.
 *
 * Syntax: DAYS HH:MM-HH:MM [ZONE]. DAYS is a day (`Sat`), a range (`Mon-Fri`, `Fri-Mon` wraps),
 * or a comma list of those (`Mon,Wed,Fri`); `daily` = every day. An end before the start spans
 * midnight (`Fri 22:00-02:00` ends Saturday 02:00). `24:00` ends at midnight. ZONE defaults to UTC.
 */

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

export interface DeployWindow {
  text: string;
  /** weekdays (0 = Sunday) the window starts on */
  days: Set<number>;
  /** minutes after local midnight */
  start: number;
  end: number;
  zone: string;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric', weekday: 'short' });
    formatters.set(zone, f);
  }
  return f;
}

export function isTimeZone(zone: string): boolean {
  try {
    formatter(zone);
    return true;
  } catch {
    return false;
  }
}

export interface LocalTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  weekday: number;
}

/** the wall-clock time in `zone` at instant `t` (ms) */
export function localTime(t: number, zone: string): LocalTime {
  const parts = formatter(zone).formatToParts(new Date(t));
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '0';
  return {
    year: Number(get('year')),
    month: Number(get('month')),
    day: Number(get('day')),
    hour: Number(get('hour')) % 24,
    minute: Number(get('minute')),
    second: Number(get('second')),
    weekday: DAYS.indexOf(get('weekday').toLowerCase().slice(0, 3)),
  };
}

/** offset of `zone` from UTC at instant t, in ms */
function offsetAt(t: number, zone: string): number {
  const l = localTime(t, zone);
  return Date.UTC(l.year, l.month - 1, l.day, l.hour, l.minute, l.second) - Math.floor(t / 1000) * 1000;
}

/**
 * The first instant at which the clock in `zone` shows at least this wall time on that date:
 * the exact instant for an ordinary time, the earlier one for a time that happens twice (autumn),
 * and the moment the clock jumps for a time that never happens (spring).
 */
export function zonedInstant(year: number, month: number, day: number, minutes: number, zone: string): number {
  const wall = Date.UTC(year, month - 1, day, 0, minutes);
  const candidates = new Set<number>();
  for (const probe of [wall - 36 * 3600_000, wall, wall + 36 * 3600_000]) candidates.add(wall - offsetAt(probe, zone));
  for (const c of [...candidates]) candidates.add(wall - offsetAt(c, zone));
  const exact = [...candidates].filter((c) => wallMs(c, zone) === wall).sort((a, b) => a - b);
  if (exact.length) return exact[0];
  // a gap: the clock jumps over this wall time; find the jump (the first instant whose wall time is later)
  let lo = Math.min(...candidates) - 3 * 3600_000;
  let hi = Math.max(...candidates) + 3 * 3600_000;
  while (hi - lo > 1000) {
    const mid = Math.floor((lo + hi) / 2);
    if (wallMs(mid, zone) >= wall) hi = mid;
    else lo = mid;
  }
  return hi;
}

function wallMs(t: number, zone: string): number {
  const l = localTime(t, zone);
  return Date.UTC(l.year, l.month - 1, l.day, l.hour, l.minute);
}

function parseDays(text: string): Set<number> {
  const out = new Set<number>();
  if (text.toLowerCase() === 'daily') return new Set([0, 1, 2, 3, 4, 5, 6]);
  for (const part of text.split(',')) {
    const [a, b] = part.split('-').map((d) => DAYS.indexOf(d.toLowerCase().slice(0, 3)));
    if (a < 0 || (part.includes('-') && (b === undefined || b < 0)) || !/^[A-Za-z]{3,9}(-[A-Za-z]{3,9})?$/.test(part)) throw new Error(`invalid days "${part}" (use Mon-Fri, Sat,Sun or daily)`);
    if (b === undefined) out.add(a);
    else for (let d = a; ; d = (d + 1) % 7) {
      out.add(d);
      if (d === b) break;
    }
  }
  return out;
}

function parseClock(s: string): number {
  const m = /^(\d{1,2}):(\d{2})$/.exec(s);
  if (!m || Number(m[1]) > 24 || Number(m[2]) > 59 || (Number(m[1]) === 24 && m[2] !== '00')) throw new Error(`invalid time "${s}" (use HH:MM, 00:00-24:00)`);
  return Number(m[1]) * 60 + Number(m[2]);
}

export function parseWindow(text: string): DeployWindow {
  const parts = text.trim().split(/\s+/);
  if (parts.length < 2 || parts.length > 3) throw new Error(`invalid window "${text}" (expected e.g. "Mon-Fri 09:00-17:00 Europe/Berlin")`);
  const days = parseDays(parts[0]);
  const [a, b] = parts[1].split('-');
  if (b === undefined) throw new Error(`invalid hours "${parts[1]}" (expected HH:MM-HH:MM)`);
  const start = parseClock(a);
  const end = parseClock(b);
  if (start === end) throw new Error(`window "${text}" is empty (start equals end)`);
  const zone = parts[2] ?? 'UTC';
  if (!isTimeZone(zone)) throw new Error(`unknown time zone "${zone}" (an IANA name such as Europe/Berlin)`);
  return { text, days, start, end, zone };
}

export function inWindow(w: DeployWindow, t: number): boolean {
  const l = localTime(t, w.zone);
  const m = l.hour * 60 + l.minute;
  if (w.start < w.end) return w.days.has(l.weekday) && m >= w.start && m < w.end;
  // spans midnight: the evening of a listed day, or the early hours after one
  return (w.days.has(l.weekday) && m >= w.start) || (w.days.has((l.weekday + 6) % 7) && m < w.end);
}

/** the next instant after `t` at which the window opens (within 8 days) */
export function nextOpening(w: DeployWindow, t: number): number | undefined {
  const l = localTime(t, w.zone);
  let best: number | undefined;
  for (let i = 0; i <= 8; i++) {
    const d = new Date(Date.UTC(l.year, l.month - 1, l.day + i));
    if (!w.days.has(d.getUTCDay())) continue;
    const at = zonedInstant(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), w.start, w.zone);
    if (at > t && (best === undefined || at < best)) best = at;
  }
  return best;
}

export interface Freeze {
  from: string;
  to: string;
  reason?: string;
  timezone?: string;
}

/** a freeze as [start, end) in ms: a date alone is a whole day in `zone` (`to` inclusive) */
export function freezeRange(f: Freeze, zone: string): [number, number] {
  const z = f.timezone ?? zone;
  const at = (s: string, endOfDay: boolean): number => {
    const d = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
    if (d) return zonedInstant(Number(d[1]), Number(d[2]), Number(d[3]) + (endOfDay ? 1 : 0), 0, z);
    if (/(Z|[+-]\d{2}:?\d{2})$/.test(s)) return Date.parse(s);
    const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})/.exec(s)!;
    return zonedInstant(Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4]) * 60 + Number(m[5]), z);
  };
  return [at(f.from, false), at(f.to, true)];
}
