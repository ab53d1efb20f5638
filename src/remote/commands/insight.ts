/**
 * Read-only snapshot of one host for `metrics` and the dashboard (current release, its commit,
 * the lock, the whole history) in one exec; and the atomic write of a metrics textfile.
 */
import type { Cmd } from '../shell.js';
import { script } from '../shell.js';
import { layout } from '../layout.js';
import { MARK } from './scripts.js';

export function insightScript(root: string): Cmd {
  const l = layout(root);
  return script(
    { R: l.root, CURRENT: l.current, RELEASES: l.releases, LOCK: l.lock, HISTORY: l.history },
    `if [ ! -d "$R" ]; then echo "${MARK} nolayout"; exit 0; fi`,
    `cur=$(readlink "$CURRENT" 2>/dev/null || true); cur=\${cur%/}; id=\${cur##*/}; echo "${MARK} current $id"`,
    `rev=; [ -n "$id" ] && [ -f "$RELEASES/$id/REVISION" ] && IFS= read -r rev < "$RELEASES/$id/REVISION"; echo "${MARK} revision $rev"`,
    `if [ -d "$LOCK" ]; then echo "${MARK} lock held $(head -n 1 "$LOCK/info" 2>/dev/null)"; else echo "${MARK} lock free"; fi`,
    // the file as it is, between markers; the echo ends a torn last line so the end marker stays whole
    `echo "${MARK} history-begin"`,
    `[ -f "$HISTORY" ] && cat "$HISTORY"`,
    `echo; echo "${MARK} history-end"`,
  );
}

export interface Insight {
  noLayout: boolean;
  current?: string;
  revision?: string;
  /** the lock's info line when the lock is held ('' when held without info) */
  lock?: string;
  historyText: string;
}

export function parseInsight(stdout: string): Insight {
  const out: Insight = { noLayout: false, historyText: '' };
  const begin = stdout.indexOf(`${MARK} history-begin\n`);
  const end = stdout.lastIndexOf(`\n${MARK} history-end`);
  const head = begin === -1 ? stdout : stdout.slice(0, begin);
  if (begin !== -1 && end > begin) out.historyText = stdout.slice(begin + MARK.length + 15, end);
  for (const line of head.split('\n')) {
    if (line === `${MARK} nolayout`) out.noLayout = true;
    else if (line.startsWith(`${MARK} current `)) out.current = line.slice(MARK.length + 9) || undefined;
    else if (line.startsWith(`${MARK} revision `)) out.revision = line.slice(MARK.length + 10) || undefined;
    else if (line.startsWith(`${MARK} lock held`)) out.lock = line.slice(MARK.length + 10).trim();
  }
  return out;
}

/**
 * Write stdin to `file` atomically for node_exporter's textfile collector: a temp file in the
 * same directory (its name does not end in .prom, so the collector never reads it half-written),
 * then a rename. The directory is created when missing.
 */
export function textfileScript(file: string): Cmd {
  return script(
    { F: file },
    `d=$(dirname "$F"); mkdir -p "$d" || exit 1`,
    `t="$F.tmp.$$"; if cat > "$t" && mv -f "$t" "$F"; then echo "${MARK} textfile written"; else rm -f "$t"; exit 1; fi`,
  );
}
