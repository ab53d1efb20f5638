/** The whole history file of a host, for `audit verify` (after a marker, so an empty file is told from a missing one). */
import type { Cmd } from '../shell.js';
import { script } from '../shell.js';
import { layout } from '../layout.js';
import { MARK } from '../protocol.js';

export function readWholeHistoryScript(root: string): Cmd {
  return script({ HISTORY: layout(root).history }, `if [ -f "$HISTORY" ]; then echo "${MARK} history"; cat "$HISTORY"; else echo "${MARK} nohistory"; fi`);
}

export function parseWholeHistory(stdout: string): string | undefined {
  const head = `${MARK} history\n`;
  const at = stdout.indexOf(head);
  return at < 0 ? undefined : stdout.slice(at + head.length);
}
