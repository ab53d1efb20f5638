/**
 * "The previous release", defined once, in sh: the newest release older than `current` without
 * a BAD_RELEASE marker (with no current release: the newest one without the marker). Ids order by
 * their 14-digit stem, then by the -N suffix older versions made. The `open` step prints the
 * answer for the client (parseState's `previous`); the `rollback` step uses it to pick its target
 * on the server, so a one-exec rollback needs no round trip to ask.
 */
const D = '[0-9]';

/** `case` patterns of a release id: 14 digits, optionally `-` and 1 to 4 digits */
export const ID_PATTERN = [0, 1, 2, 3, 4].map((n) => D.repeat(14) + (n ? `-${D.repeat(n)}` : '')).join('|');

/**
 * sh functions: `older A B` (is release A older than B?) and `previous CUR`, which sets $prev to
 * the previous release of CUR (empty when there is none). Builtins only: no fork per release.
 */
export const PREVIOUS = [
  `older() { a=\${1%%-*}; b=\${2%%-*}; [ "$a" -lt "$b" ] && return 0; [ "$a" -gt "$b" ] && return 1; x=0; y=0; case $1 in *-*) x=\${1#*-} ;; esac; case $2 in *-*) y=\${2#*-} ;; esac; [ "$x" -lt "$y" ]; }`,
  `previous() { prev=; for d in "$RELEASES"/*; do id=\${d##*/}; case $id in ${ID_PATTERN}) ;; *) continue ;; esac; [ -d "$d" ] || continue; [ -e "$d/BAD_RELEASE" ] && continue; if [ -n "$1" ]; then older "$id" "$1" || continue; fi; if [ -z "$prev" ] || older "$prev" "$id"; then prev=$id; fi; done; }`,
].join('\n');
