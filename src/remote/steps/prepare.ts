/**
 * The `prepare` step: receive the release archive into staging, write REVISION files, link shared
 * paths, move it into releases/<id> (only complete uploads ever land there), then run the
 * before_switch hooks. A failure anywhere removes the staging dir or the new release; `current`
 * is never touched.
 */
import { hasTag, MARK, tagged } from '../protocol.js';
import { script, type Cmd } from '../shell.js';
import { layout, parentDirs, sharedLinkTarget } from '../layout.js';
import { assertReleaseId } from '../release-id.js';
import { baseVars, DISCARD, type Vars } from './common.js';
import { hookLines } from './hooks.js';
import { JOIN_RUN, OURS } from './lock.js';
import { baseToStagingLines, type Reuse } from './upload-base.js';

export interface PrepareOptions {
  root: string;
  id: string;
  /** the release archive arrives on stdin; gzip-compressed when true */
  gzip: boolean;
  sharedDirs: string[];
  sharedFiles: string[];
  revision: string;
  revisionTime: string;
  /** before_switch hooks: user shell, run in the release directory */
  hooks: string[];
  hookEnv: Record<string, string>;
  /**
   * set: the archive's members are relative to the deploy root (the upload plan): the upload as
   * the new upload base `.ee-deploy/base/<id>/` (unchanged files as hard links into the previous
   * base) and its manifest `.ee-deploy/base/<id>.manifest`; the release then gets the base's files
   * as `reuse` says (upload-base.ts). Unset: the archive is the release itself (no base, no manifest).
   */
  reuse?: Reuse;
  /**
   * with `reuse`: nothing changed since the upload base with this id was uploaded, so no archive
   * comes (stdin is empty) and the release is made from that base as it is
   */
  sameAs?: string;
  /** the run's lock token: the release is moved into releases/ only while the lock still carries it */
  lockToken?: string;
  /** hooks_timeout, per hook command */
  hooksTimeoutMs?: number;
}

export function prepareScript(o: PrepareOptions): Cmd {
  assertReleaseId(o.id);
  if (o.sameAs !== undefined) assertReleaseId(o.sameAs);
  const l = layout(o.root);
  const vars: Vars = {
    ...baseVars(o.root),
    ID: o.id,
    S: l.stagingFor(o.id),
    REL: l.release(o.id),
    REVISION: o.revision,
    REVISION_TIME: o.revisionTime,
    TOKEN: o.lockToken ?? '',
    BD: o.reuse ? l.baseFor(o.sameAs ?? o.id) : '',
  };
  const body: string[] = [
    // a failure reports the free space left once the staging dir is gone (a full disk is named as such)
    // (a base without its stamp is an incomplete upload: never reused)
    `fail() { echo "${MARK} failed $1" >&2; rm -rf "$S"; [ -z "$BD" ] || [ -f "$BD.stamp" ] || rm -rf "$BD" "$BD.manifest"; avail=$(df -Pk "$R" 2>/dev/null | awk 'NR==2 {print $4}'); echo "${MARK} df \${avail:-unknown}" >&2; exit 1; }`,
    DISCARD,
    OURS,
    JOIN_RUN,
    `[ -e "$REL" ] && { echo "${MARK} failed release $ID already exists" >&2; exit 1; }`,
  ];
  if (o.reuse && o.sameAs) {
    // (named like a tar failure: the client then retries once with a full upload)
    body.push(`rm -rf "$S"; mkdir -p "$STAGING" "$MANIFESTS" || fail "cannot create staging directory"`);
    body.push(`[ -d "$BD" ] && [ -f "$BD.manifest" ] && [ -f "$BD.stamp" ] || fail "upload: the upload base is gone"`);
    body.push(`echo "${MARK} uploaded"`);
    body.push(...baseToStagingLines(o.reuse, false));
  } else if (o.reuse) {
    body.push(`rm -rf "$S" "$BD" "$BD.manifest" "$BD.stamp"; mkdir -p "$STAGING" "$BASE" "$MANIFESTS" || fail "cannot create staging directory"`);
    body.push(`tar -x${o.gzip ? 'z' : ''}f - -C "$R" || fail "upload: tar exited $?"`);
    body.push(`echo "${MARK} uploaded"`);
    body.push(...baseToStagingLines(o.reuse));
  } else {
    body.push(`rm -rf "$S" && mkdir -p "$S" || fail "cannot create staging directory"`);
    body.push(`tar -x${o.gzip ? 'z' : ''}f - -C "$S" || fail "upload: tar exited $?"`);
    body.push(`echo "${MARK} uploaded"`);
  }
  // rm first, a guard: with reuse: hardlink a release shares files with the upload base, so never write through an existing one
  // (the archive has no REVISION files today: the source scan skips them)
  body.push(`rm -f "$S/REVISION" "$S/REVISION_TIME"; printf '%s\\n' "$REVISION" > "$S/REVISION" && printf '%s\\n' "$REVISION_TIME" > "$S/REVISION_TIME" || fail "cannot write REVISION"`);
  body.push(...sharedParentChecks(o.sharedDirs, o.sharedFiles, vars));
  o.sharedDirs.forEach((d, i) => {
    vars[`SD${i}`] = d;
    vars[`SDT${i}`] = sharedLinkTarget(d);
    body.push(
      `mkdir -p "$SHARED/$SD${i}" && rm -rf "$S/$SD${i}" && mkdir -p "$(dirname "$S/$SD${i}")" && ln -s "$SDT${i}" "$S/$SD${i}" || fail "cannot link shared dir $SD${i}"`,
    );
  });
  o.sharedFiles.forEach((f, i) => {
    vars[`SF${i}`] = f;
    vars[`SFT${i}`] = sharedLinkTarget(f);
    body.push(
      `mkdir -p "$(dirname "$SHARED/$SF${i}")" && { [ -e "$SHARED/$SF${i}" ] || : > "$SHARED/$SF${i}"; } && rm -rf "$S/$SF${i}" && mkdir -p "$(dirname "$S/$SF${i}")" && ln -s "$SFT${i}" "$S/$SF${i}" || fail "cannot link shared file $SF${i}"`,
    );
  });
  // the pending marker goes first: a run killed from here on leaves a release the next run removes
  body.push(`mkdir -p "$PENDING" && : > "$PENDING/$ID" || fail "cannot write $PENDING/$ID"`);
  body.push(`ours || fail "the deploy lock is no longer held by this run (removed as stale, or by \\\`ee-deploy unlock\\\`)"`);
  body.push(`[ -e "$REL" ] && fail "release $ID already exists"`);
  body.push(`mv "$S" "$REL" || fail "cannot move the release into place"`);
  body.push(`echo "${MARK} prepared"`);
  body.push(...hookLines(o.hooks, o.hookEnv, vars, 'before_switch', '"$REL"', `if ours; then discard "$REL"; rm -f "$PENDING/$ID"; fi`, o.hooksTimeoutMs));
  return script(vars, ...body);
}

/**
 * Every shared path must lie under real directories of the release: a parent that is a symlink
 * (`public -> /srv/www`) would make the `rm -rf` and `ln` of the link step act outside the deploy
 * path. All of them are checked before the first link is made, so a refused release changes nothing.
 */
function sharedParentChecks(dirs: string[], files: string[], vars: Vars): string[] {
  const out: string[] = [];
  const all = [...dirs.map((p) => ['dir', p] as const), ...files.map((p) => ['file', p] as const)];
  all.forEach(([kind, p], i) => {
    parentDirs(p).forEach((q, j) => {
      vars[`SP${i}_${j}`] = q;
      vars[`SN${i}`] = p;
      out.push(`realdir "$SP${i}_${j}" || fail "shared ${kind} $SN${i}: $SP${i}_${j} in the release is a symlink or a file, not a directory (a shared path must lie under real directories of the release)"`);
    });
  });
  return out.length ? [`realdir() { [ ! -L "$S/$1" ] && { [ -d "$S/$1" ] || [ ! -e "$S/$1" ]; }; }`, ...out] : [];
}

/**
 * A prepare that failed while extracting the archive (not later, not in a hook): the upload
 * itself broke, worth one retry without hard links.
 */
export function failedInTar(r: { stdout?: unknown; stderr?: unknown }): boolean {
  const all = `${String(r?.stdout ?? '')}\n${String(r?.stderr ?? '')}`;
  return tagged(all, 'failed').some((x) => x.startsWith('upload: ')) && !hasTag(all, 'uploaded', '');
}
