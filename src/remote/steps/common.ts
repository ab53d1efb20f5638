/**
 * Shell vocabulary shared by the step scripts: the layout's paths as variables, and the atomic
 * removal of a release. Scripts need only POSIX sh and a few tools (GNU or BusyBox).
 */
import type { Secret } from '../shell.js';
import { layout } from '../layout.js';

export type Vars = Record<string, string | Secret>;

/** common variables every script gets */
export function baseVars(root: string): Vars {
  const l = layout(root);
  return {
    R: l.root,
    RELEASES: l.releases,
    CURRENT: l.current,
    SHARED: l.shared,
    META: l.meta,
    LOCK: l.lock,
    STAGING: l.staging,
    PENDING: l.pending,
    TRASH: l.trash,
    MANIFESTS: l.manifests,
    BASE: l.base,
    HISTORY: l.history,
    REVLOG: l.revisions,
  };
}

/**
 * `discard DIR`: take a release out of releases/ with one atomic rename, then delete it, so an
 * interrupted removal never leaves a half-deleted release behind (leftovers in the trash are
 * emptied by the next run's `open`).
 */
export const DISCARD = `discard() { mkdir -p "$TRASH" 2>/dev/null; t="$TRASH/\${1##*/}.$$"; if mv "$1" "$t" 2>/dev/null; then rm -rf "$t"; else rm -rf "$1"; fi; }`;

/**
 * `cur`: the release `current` points at, as `releases/<id>` (empty when there is none).
 * Capistrano writes an absolute link (`<deploy_to>/releases/<id>`), ee-deploy a relative one: an
 * absolute link, or a relative one spelled differently (`./releases/<id>/`), to a directory of this
 * root's releases/ reads as `releases/<id>` (`-ef`: the same directory even when deploy_to is reached through another path).
 * Anything else is left as it is, for the caller to report.
 */
export const READ_CURRENT = `cur=$(readlink "$CURRENT" 2>/dev/null || true); case $cur in '') ;; *) case $cur in /*) t=$cur ;; *) t="$R/$cur" ;; esac; c=\${cur%/}; c=\${c##*/}; case $c in ''|.|..) ;; *) [ "$t" -ef "$RELEASES/$c" ] && cur="releases/$c" ;; esac ;; esac`;

/**
 * Creates `.ee-deploy/` (lock info, history, manifests, approvals: who deployed what, when, and
 * the content hashes of every file) for its owner alone (0700); an existing one loses any access
 * for other users, while a group the admin gave access to keeps it. Needs $META.
 */
export const MAKE_META = `{ [ -d "$META" ] || mkdir -p -m 700 "$META"; } && { chmod o-rwx "$META" 2>/dev/null || :; }`;
