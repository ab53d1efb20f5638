/**
 * "The previous release", defined once, in sh: the newest release older than `current` without
 * a BAD_RELEASE marker (with no current release: the newest one without the marker). Ids order by
 * their 14-digit stem, then by the -N suffix older versions made. The `open` step prints the
 * answer for the client (parseState's `previous`); the `rollback` step uses it to pick its target
 * on the server, so a one-exec rollback needs no round trip to ask.
 */
import { MARK } from '../protocol.js';

const D = '[0-9]';

/** `case` patterns of a release id: 14 digits, optionally `-` and 1 to 4 digits */
export const ID_PATTERN = [0, 1, 2, 3, 4].map((n) => D.repeat(14) + (n ? `-${D.repeat(n)}` : '')).join('|');

/**
 * sh functions: `isrelease DIR`, what counts as a release: a 14-digit id (with the suffix older
 * versions made), a real directory (not a link to one) holding REVISION. Anything else under
 * releases/ (`20240101-old`, `zz junk`, a file, a link, a directory made by hand without
 * REVISION) is foreign: listed apart, never counted, pruned or rolled back to.
 * `foreign NAME` prints such an entry's name as a tag, a line break in it replaced (so a name can
 * never forge a tag line; printf, as dash's echo would expand backslashes).
 */
export const IS_RELEASE = [
  `isrelease() { case \${1##*/} in ${ID_PATTERN}) ;; *) return 1 ;; esac; [ -d "$1" ] && [ ! -L "$1" ] && [ -f "$1/REVISION" ]; }`,
  // a literal line break in the pattern; the carriage return made once per script
  `ee_cr=$(printf '\\r')`,
  `foreign() { n=$1; case $n in *"\n"*|*"$ee_cr"*) n='(a name with a line break)' ;; esac; printf '%s\\n' "${MARK} foreign $n"; }`,
].join('\n');

/**
 * sh functions: `older A B` (is release A older than B?) and `previous CUR`, which sets $prev to
 * the previous release of CUR (empty when there is none). Builtins only: no fork per release.
 */
export const PREVIOUS = [
  `older() { a=\${1%%-*}; b=\${2%%-*}; [ "$a" -lt "$b" ] && return 0; [ "$a" -gt "$b" ] && return 1; x=0; y=0; case $1 in *-*) x=\${1#*-} ;; esac; case $2 in *-*) y=\${2#*-} ;; esac; [ "$x" -lt "$y" ]; }`,
  IS_RELEASE,
  `previous() { prev=; for d in "$RELEASES"/*; do isrelease "$d" || continue; id=\${d##*/}; [ -e "$d/BAD_RELEASE" ] && continue; if [ -n "$1" ]; then older "$id" "$1" || continue; fi; if [ -z "$prev" ] || older "$prev" "$id"; then prev=$id; fi; done; }`,
].join('\n');
