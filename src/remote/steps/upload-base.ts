/**
 * The upload base: the tree of the last upload exactly as it arrived, kept under
 * `.ee-deploy/base/<id>/` with its manifest (`<id>.manifest`) and a stamp (`<id>.stamp`).
 * Hooks and apps never see it: a release gets its own copy of it (`cp`, a reflink where the file
 * system has them), so nothing done to a release (a `sed -i` in a hook, an app appending to a
 * file) can leak into the next one, which is built from the base, not from a release.
 *
 * The next upload sends only what differs from the base's manifest; unchanged files arrive as tar
 * hard-link entries into the new base (bases share inodes only with bases). Before a base is used,
 * `open` checks that nothing in it is newer than its stamp (`find -newer`: an edit, an append, a
 * file put in its place, a manifest rewritten); a base that fails the check is removed and the
 * upload is a full one. The client also checks the manifest's digest against its body.
 *
 * `reuse` picks how a release gets the base's files:
 *   copy      its own copy of every file (`cp -a --reflink=auto`; plain `cp -a` where cp has no
 *             --reflink, e.g. BusyBox): independent releases (the default)
 *   hardlink  hard links to the base's files (`cp -al`): cheapest, but a write in place into one
 *             release changes every release sharing that file (and the base, which the next open
 *             notices, so the next upload is a full one)
 *   none      no base is kept: every deploy uploads everything
 */
import { say } from '../protocol.js';

export type Reuse = 'copy' | 'hardlink' | 'none';

/**
 * sh for `open`: find the base (the one complete `<id>.stamp`), check it, print its manifest (or
 * only the digest when the client has it: $HAVE). `clean`: under the lock, remove leftovers (bases
 * of killed uploads, older ones) and a base that failed the check.
 */
export function baseStateLines(clean: boolean): string[] {
  return [
    `bid=; for s in "$BASE"/*.stamp; do [ -f "$s" ] || continue; b=\${s%.stamp}; bid=\${b##*/}; done`,
    clean ? `for b in "$BASE"/*; do case \${b##*/} in "$bid"|"$bid.manifest"|"$bid.stamp") ;; *) rm -rf "$b" ;; esac; done 2>/dev/null` : ':',
    `if [ -n "$bid" ]; then`,
    `  b="$BASE/$bid"; d=`,
    // a file of the base (or its manifest) newer than the stamp was changed after the upload
    `  if [ -d "$b" ] && [ -f "$b.manifest" ] && command -v find >/dev/null 2>&1; then n=$( { find "$b" "$b.manifest" -newer "$b.stamp" || echo error; } 2>/dev/null | wc -l); n=$((n)); else n=missing; fi`,
    `  if [ "$n" = 0 ]; then IFS=' ' read -r _ _ d _ < "$b.manifest"; else ${say('base-changed $bid $n')}; ${clean ? 'rm -rf "$b" "$b.manifest" "$b.stamp";' : ''} fi`,
    `  if [ -n "$d" ]; then`,
    `    case " $HAVE " in`,
    `      *" $d "*) ${say('manifest cached $bid $d')} ;;`,
    `      *) ${say('manifest-begin $bid $d')}; cat "$b.manifest"; echo; ${say('manifest-end')} ;;`,
    `    esac`,
    `  fi`,
    `fi`,
  ];
}

/**
 * sh for `prepare`, once "$BD" (a base/<id>) and "$BD.manifest" hold the upload: stamp a new base,
 * give the staging dir "$S" its files, keep the manifest beside the release, drop older bases.
 * `fresh` false: "$BD" is the existing base, reused as it is (nothing changed since that upload).
 * `fail` is the script's failure function.
 */
export function baseToStagingLines(reuse: Reuse, fresh = true): string[] {
  const out: string[] = [];
  if (reuse === 'none') {
    out.push(`mv "$BD" "$S" && mv "$BD.manifest" "$MANIFESTS/$ID" || fail "cannot move the upload into staging"`);
  } else {
    if (fresh)
      out.push(
        // the stamp is the newest time in the base (a file from a client whose clock is ahead may be newer than "now")
        `: > "$BD.stamp" || fail "cannot write $BD.stamp"`,
        `while f=$(find "$BD" "$BD.manifest" -newer "$BD.stamp" -exec ls -td {} + 2>/dev/null | head -n 1); [ -n "$f" ]; do touch -r "$f" "$BD.stamp" || break; done`,
      );
    out.push(
      reuse === 'copy'
        ? `{ cp -a --reflink=auto "$BD" "$S" 2>/dev/null || { rm -rf "$S"; cp -a "$BD" "$S"; }; } || fail "cannot copy the upload into staging"`
        : `cp -al "$BD" "$S" || fail "cannot hard-link the upload into staging"`,
      `cp "$BD.manifest" "$MANIFESTS/$ID" || fail "cannot write $MANIFESTS/$ID"`,
    );
  }
  if (!fresh) return out;
  // one base at a time: the new one replaces the others (its hard links keep what it shares)
  out.push(`for b in "$BASE"/*; do case \${b##*/} in "$ID"|"$ID.manifest"|"$ID.stamp") ;; *) rm -rf "$b" ;; esac; done 2>/dev/null`);
  if (reuse === 'none') out.push(`rm -rf "$BD" "$BD.manifest" "$BD.stamp"`);
  return out;
}

/** `open` found the upload base changed on the server: its id and how many entries are newer than its stamp ('missing' when it could not check) */
export interface BaseChanged {
  id: string;
  count: string;
}

export function parseBaseChanged(words: string[]): BaseChanged {
  return { id: words[0] ?? '', count: words[1] ?? '' };
}
