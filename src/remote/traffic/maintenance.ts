/**
 * Pure builders for maintenance mode: `<path>/shared/maintenance.json` holds `{message, user,
 * since}` while the site is in maintenance. The file is written next to its final name and
 * renamed over it, so a web server testing for it (see the README's nginx snippet) never reads a
 * half-written document. Scripts need only sh, mkdir, mv, rm.
 */
import { layout } from '../layout.js';
import { kindFailure, MARK } from '../protocol.js';
import { script, type Cmd } from '../shell.js';

const MAINTENANCE_MARK = `${MARK} maintenance`;

export interface MaintenanceDoc {
  message: string;
  user: string;
  /** ISO 8601 */
  since: string;
}

export function maintenanceFile(root: string): string {
  return `${layout(root).shared}/maintenance.json`;
}

/** prints `@@ee maintenance on <json>` or `@@ee maintenance off` for the file as it is now */
const PRINT = `if [ -f "$F" ]; then doc=; { IFS= read -r doc < "$F"; } 2>/dev/null; echo "${MAINTENANCE_MARK} on $doc"; else echo "${MAINTENANCE_MARK} off"; fi`;

/** Writes the document (one JSON line) atomically, then reports the resulting state. */
export function maintenanceOnScript(root: string, doc: MaintenanceDoc): Cmd {
  return script(
    { SHARED: layout(root).shared, F: maintenanceFile(root), DOC: JSON.stringify(doc) },
    `mkdir -p "$SHARED" || exit 1`,
    `T="$SHARED/.maintenance.json.$$"`,
    `printf '%s\\n' "$DOC" > "$T" && mv -f "$T" "$F" || { rm -f "$T"; echo "${MAINTENANCE_MARK} failed cannot write $F" >&2; exit 1; }`,
    PRINT,
  );
}

/** Removes the file (prints what it held first, so `off` can say who turned it on). */
export function maintenanceOffScript(root: string): Cmd {
  return script({ F: maintenanceFile(root) }, PRINT, `if [ -e "$F" ]; then rm -f "$F" || exit 1; fi`, `[ ! -e "$F" ] || exit 1`);
}

export function maintenanceStatusScript(root: string): Cmd {
  return script({ F: maintenanceFile(root) }, PRINT);
}

export type MaintenanceState = { on: true; doc?: MaintenanceDoc } | { on: false };

/** The state a script printed (the last marker line wins). */
export function parseMaintenance(stdout: string): MaintenanceState | undefined {
  const line = stdout
    .split('\n')
    .reverse()
    .find((l) => l.startsWith(`${MAINTENANCE_MARK} on`) || l === `${MAINTENANCE_MARK} off`);
  if (!line) return undefined;
  if (line === `${MAINTENANCE_MARK} off`) return { on: false };
  const text = line.slice(MAINTENANCE_MARK.length + 4);
  try {
    const d = JSON.parse(text) as Partial<MaintenanceDoc>;
    if (d && typeof d === 'object') return { on: true, doc: { message: String(d.message ?? ''), user: String(d.user ?? ''), since: String(d.since ?? '') } };
  } catch {
    /* a file written by hand: still "on" */
  }
  return { on: true };
}

/** the reason a maintenance script gave for failing (`@@ee maintenance failed <reason>`), if any */
export function maintenanceFailure(stderr: string): string | undefined {
  return kindFailure(stderr, 'maintenance');
}
