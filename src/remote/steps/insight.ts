/**
 * Read-only snapshot of one host for `metrics` and the dashboard (current release, its commit,
 * the lock, the whole history) in one exec; and the atomic write of a metrics textfile.
 */
import type { Cmd } from '../shell.js';
import { script } from '../shell.js';
import { MARK, say, tags } from '../protocol.js';
import { baseVars, READ_CURRENT } from './common.js';
import { LOCK_STATUS } from './lock.js';
import { ID_PATTERN, PREVIOUS } from './previous.js';

export function insightScript(root: string): Cmd {
  return script(
    baseVars(root),
    `if [ ! -d "$R" ]; then ${say('nolayout')}; exit 0; fi`,
    // Capistrano writes absolute links, we write relative ones: the id is the last segment either way
    `${READ_CURRENT}; cur=\${cur%/}; id=\${cur##*/}; ${say('current $id')}`,
    `rev=; [ -n "$id" ] && [ -f "$RELEASES/$id/REVISION" ] && IFS= read -r rev < "$RELEASES/$id/REVISION"; ${say('revision $rev')}`,
    LOCK_STATUS,
    // release ids and BAD_RELEASE markers, for the rollback target (no du: sizes are not needed)
    PREVIOUS,
    `for d in "$RELEASES"/*; do if ! isrelease "$d"; then { [ -e "$d" ] || [ -L "$d" ]; } && foreign "\${d##*/}"; continue; fi; b=0; [ -e "$d/BAD_RELEASE" ] && b=1; ${say('release ${d##*/} $b')}; done`,
    // the rollback target, as the rollback step would pick it
    `case $id in '') previous '' ;; ${ID_PATTERN}) previous "$id" ;; *) prev= ;; esac; [ -z "$prev" ] || ${say('previous $prev')}`,
    // the file as it is, between markers; the echo ends a torn last line so the end marker stays whole
    say('history-begin'),
    `[ -f "$HISTORY" ] && cat "$HISTORY"`,
    `echo; ${say('history-end')}`,
  );
}

export interface Insight {
  noLayout: boolean;
  current?: string;
  revision?: string;
  /** the lock's info line when the lock is held ('' when held without info) */
  lock?: string;
  releases: { id: string; bad: boolean }[];
  /** entries of releases/ that are no release (previous.ts IS_RELEASE) */
  foreign: string[];
  /** the previous release of `current` (previous.ts) */
  previous?: string;
  historyText: string;
}

export function parseInsight(stdout: string): Insight {
  const out: Insight = { noLayout: false, releases: [], foreign: [], historyText: '' };
  const begin = stdout.indexOf(`${MARK} history-begin\n`);
  const end = stdout.lastIndexOf(`\n${MARK} history-end`);
  const head = begin === -1 ? stdout : stdout.slice(0, begin);
  if (begin !== -1 && end > begin) out.historyText = stdout.slice(begin + MARK.length + 15, end);
  for (const t of tags(head)) {
    if (t.kind === 'nolayout') out.noLayout = true;
    else if (t.kind === 'current') out.current = t.rest || undefined;
    else if (t.kind === 'previous') out.previous = t.rest || undefined;
    else if (t.kind === 'revision') out.revision = t.rest || undefined;
    else if (t.kind === 'release' && t.words[0]) out.releases.push({ id: t.words[0], bad: t.words[1] === '1' });
    else if (t.kind === 'foreign') out.foreign.push(t.rest);
    else if (t.kind === 'lock' && t.words[0] === 'held') out.lock = t.words.slice(1).join(' ').trim();
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
    `t="$F.tmp.$$"; if cat > "$t" && mv -f "$t" "$F"; then ${say('textfile written')}; else rm -f "$t"; exit 1; fi`,
  );
}
