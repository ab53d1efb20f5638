/**
 * Pure builders of the remote scripts. Each deploy batches its remote work into a few execs per
 * host: `open` (layout + lock + state), `prepare` (receive upload, link shared, before_switch
 * hooks), `switch` (+ after_switch hooks), `finish` (history, revisions.log, prune, unlock).
 * Scripts need only POSIX sh, tar, mkdir, ln, mv, rm, cp, df, ls (GNU or BusyBox).
 */
import type { Cmd, Secret } from '../shell.js';
import { script } from '../shell.js';
import { layout, sharedLinkTarget } from '../layout.js';
import { assertReleaseId } from '../release-id.js';

export const MARK = '@@ee';

type Vars = Record<string, string | Secret>;

/** common variables every script gets */
function baseVars(root: string): Vars {
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
    HISTORY: l.history,
    REVLOG: l.revisions,
  };
}

/**
 * `discard DIR`: take a release out of releases/ with one atomic rename, then delete it, so an
 * interrupted removal never leaves a half-deleted release behind (leftovers in the trash are
 * emptied by the next run's `open`).
 */
const DISCARD = `discard() { mkdir -p "$TRASH" 2>/dev/null; t="$TRASH/\${1##*/}.$$"; if mv "$1" "$t" 2>/dev/null; then rm -rf "$t"; else rm -rf "$1"; fi; }`;

/** `ours`: does the lock still carry this run's $TOKEN? (true when no token was given) */
const OURS = `ours() { [ -z "$TOKEN" ] && return 0; l=; { IFS= read -r l < "$LOCK/info"; } 2>/dev/null; case $l in *"\\"token\\":\\"$TOKEN\\""*) return 0 ;; esac; return 1; }`;

/** prints the state block parsed by parseState() */
const PRINT_STATE = `
cur=$(readlink "$CURRENT" 2>/dev/null || true)
echo "${MARK} current $cur"
for d in "$RELEASES"/*; do
  [ -d "$d" ] || continue
  id=\${d##*/}
  bad=0; [ -e "$d/BAD_RELEASE" ] && bad=1
  rev=; [ -f "$d/REVISION" ] && IFS= read -r rev < "$d/REVISION"  # a builtin: no fork per release
  echo "${MARK} release $id $bad $rev"
done
avail=$(df -Pk "$R" 2>/dev/null | { read -r _; read -r _ _ _ a _; echo "$a"; })
echo "${MARK} df \${avail:-unknown}"
for t in tar mkdir ln mv rm cp; do command -v "$t" >/dev/null 2>&1 || echo "${MARK} missing $t"; done
`;

/**
 * `open`: create the layout, take the lock (unless `lock` is false), clean staging leftovers of
 * earlier killed runs (only while holding the lock), print the state.
 * `breakToken`: remove an existing lock first, but only if it still carries this token.
 */
export function openScript(root: string, opts: { lockInfo?: string; breakToken?: string; readOnly?: boolean; manifests?: string[] }): Cmd {
  const vars: Vars = { ...baseVars(root), INFO: opts.lockInfo ?? '', BREAK: opts.breakToken ?? '' };
  const body: string[] = [];
  if (opts.readOnly) {
    body.push(`if [ ! -d "$R" ]; then echo "${MARK} nolayout"; exit 0; fi`);
    body.push(`if [ -d "$LOCK" ]; then echo "${MARK} lock held $(head -n 1 "$LOCK/info" 2>/dev/null)"; else echo "${MARK} lock free"; fi`);
  } else {
    body.push(`set -e`, `mkdir -p "$RELEASES" "$SHARED" "$STAGING"`, `set +e`);
  }
  if (opts.lockInfo !== undefined && !opts.readOnly) {
    body.push(`if [ -n "$BREAK" ] && grep -q "\\"token\\":\\"$BREAK\\"" "$LOCK/info" 2>/dev/null; then rm -rf "$LOCK"; echo "${MARK} lock broken"; fi`);
    body.push(
      `if mkdir "$LOCK" 2>/dev/null; then`,
      `  printf '%s\\n' "$INFO" > "$LOCK/info" || { rm -rf "$LOCK"; echo "${MARK} error cannot write lock info"; exit 1; }`,
      `  echo "${MARK} lock acquired"`,
      // leftovers of runs that were killed: staging uploads, temp links of a switch, releases
      // that were prepared but never switched to (their pending marker), the trash
      `  rm -rf "$STAGING"/* 2>/dev/null; rm -f "$R"/.ee-current-* 2>/dev/null`,
      `  ${DISCARD}`,
      `  cur=$(readlink "$CURRENT" 2>/dev/null || true)`,
      `  for m in "$PENDING"/*; do`,
      `    [ -f "$m" ] || continue; id=\${m##*/}`,
      `    case $id in *[!0-9-]*) ;; *) if [ "$cur" != "releases/$id" ] && [ -d "$RELEASES/$id" ]; then discard "$RELEASES/$id"; rm -f "$MANIFESTS/$id"; echo "${MARK} cleaned $id"; fi ;; esac`,
      `    rm -f "$m"`,
      `  done`,
      `  rm -rf "$TRASH"/* 2>/dev/null`,
      `else`,
      `  echo "${MARK} lock held $(head -n 1 "$LOCK/info" 2>/dev/null)"`,
      `  exit 0`,
      `fi`,
    );
  }
  body.push(PRINT_STATE);
  if (opts.manifests) {
    vars.HAVE = opts.manifests.filter((d) => /^[0-9a-f]{32}$/.test(d)).join(' ');
    // under the lock only: manifests of releases that are gone
    if (!opts.readOnly) body.push(`for m in "$MANIFESTS"/*; do [ -f "$m" ] || continue; [ -d "$RELEASES/\${m##*/}" ] || rm -f "$m"; done 2>/dev/null`);
    body.push(PRINT_MANIFEST);
  }
  return script(vars, ...body);
}

/**
 * The manifest of the release `current` points at (see deploy/manifest.ts), for an incremental
 * upload: only its digest when the client already has it ($HAVE), else the whole text between
 * markers. Manifests of releases that no longer exist are removed on the way (we hold the lock).
 */
const PRINT_MANIFEST = `
if [ -n "$cur" ]; then
  mid=\${cur##*/}; m="$MANIFESTS/$mid"; d=
  [ -f "$m" ] && IFS=' ' read -r _ _ d _ < "$m"
  if [ -z "$d" ]; then echo "${MARK} manifest none $mid"
  else
    case " $HAVE " in
      *" $d "*) echo "${MARK} manifest cached $mid $d" ;;
      *) echo "${MARK} manifest-begin $mid $d"; cat "$m"; echo; echo "${MARK} manifest-end" ;;
    esac
  fi
fi
`;

/** The manifest part of an `open` answer (openScript's `manifests` option). */
export interface RemoteManifest {
  /** the release `current` points at */
  release: string;
  /** the digest in its manifest's header; undefined when that release has no manifest */
  digest?: string;
  /** the full text, unless the client already has this digest (`cached`) */
  text?: string;
  cached?: boolean;
}

export function parseManifestBlock(stdout: string): RemoteManifest | undefined {
  const m = new RegExp(`^${MARK} manifest(-begin| cached| none) (\\S+)(?: ([0-9a-f]{32}))?$`, 'm').exec(stdout);
  if (!m) return undefined;
  if (m[1] === ' none') return { release: m[2] };
  if (m[1] === ' cached') return { release: m[2], digest: m[3], cached: true };
  const start = m.index + m[0].length + 1;
  const end = stdout.indexOf(`\n${MARK} manifest-end`, start);
  if (end < 0) return { release: m[2] }; // truncated: treat as missing
  return { release: m[2], digest: m[3], text: stdout.slice(start, end) };
}

export interface ParsedState {
  lock: { status: 'acquired' | 'held' | 'free' | 'none'; info?: string; broken?: boolean };
  current?: string;
  releases: { id: string; bad: boolean; revision?: string }[];
  availableKb?: number;
  missingTools: string[];
  noLayout: boolean;
  /** releases an interrupted run prepared but never switched to, removed by this `open` */
  cleaned?: string[];
  /** the current release's manifest, when openScript was asked for it */
  manifest?: RemoteManifest;
}

export function parseState(stdout: string): ParsedState {
  const s: ParsedState = { lock: { status: 'none' }, releases: [], missingTools: [], noLayout: false };
  for (const line of stdout.split('\n')) {
    if (!line.startsWith(MARK + ' ')) continue;
    const rest = line.slice(MARK.length + 1);
    const [kind, ...words] = rest.split(' ');
    const arg = words.join(' ');
    switch (kind) {
      case 'lock':
        if (words[0] === 'acquired') s.lock.status = 'acquired';
        else if (words[0] === 'broken') s.lock.broken = true;
        else if (words[0] === 'free') s.lock.status = 'free';
        else if (words[0] === 'held') {
          s.lock.status = 'held';
          s.lock.info = words.slice(1).join(' ');
        }
        break;
      case 'current': {
        const m = /^releases\/(.+)$/.exec(arg.replace(/\/+$/, ''));
        s.current = m ? m[1] : arg || undefined;
        break;
      }
      case 'release':
        s.releases.push({ id: words[0], bad: words[1] === '1', revision: words.slice(2).join(' ') || undefined });
        break;
      case 'df':
        s.availableKb = /^\d+$/.test(arg) ? Number(arg) : undefined;
        break;
      case 'missing':
        s.missingTools.push(arg);
        break;
      case 'nolayout':
        s.noLayout = true;
        break;
      case 'cleaned':
        (s.cleaned ??= []).push(arg);
        break;
      case 'manifest':
      case 'manifest-begin':
        s.manifest = parseManifestBlock(stdout);
        break;
    }
  }
  return s;
}

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
   * the archive's members are relative to the deploy root (deploy/upload.ts): the release under
   * `.ee-deploy/staging/<id>/`, unchanged files as hard links to `releases/<base>/...`, and the
   * release's manifest as `.ee-deploy/manifests/<id>`
   */
  rootArchive?: boolean;
  /** the run's lock token: the release is moved into releases/ only while the lock still carries it */
  lockToken?: string;
}

/**
 * `prepare`: receive the archive into staging, write REVISION files, link shared paths, move it
 * into releases/<id> (only complete uploads ever land there), then run before_switch hooks.
 * A failure anywhere removes the staging dir or the new release; `current` is never touched.
 */
export function prepareScript(o: PrepareOptions): Cmd {
  assertReleaseId(o.id);
  const l = layout(o.root);
  const vars: Vars = {
    ...baseVars(o.root),
    ID: o.id,
    S: l.stagingFor(o.id),
    REL: l.release(o.id),
    REVISION: o.revision,
    REVISION_TIME: o.revisionTime,
    TOKEN: o.lockToken ?? '',
  };
  const body: string[] = [
    // a failure reports the free space left once the staging dir is gone (a full disk is named as such)
    `fail() { echo "${MARK} failed $1" >&2; rm -rf "$S"; avail=$(df -Pk "$R" 2>/dev/null | awk 'NR==2 {print $4}'); echo "${MARK} df \${avail:-unknown}" >&2; exit 1; }`,
    DISCARD,
    OURS,
    `[ -e "$REL" ] && { echo "${MARK} failed release $ID already exists" >&2; exit 1; }`,
    `rm -rf "$S" && mkdir -p "$S" || fail "cannot create staging directory"`,
  ];
  if (o.rootArchive) body.push(`mkdir -p "$MANIFESTS" || fail "cannot create $MANIFESTS"`);
  body.push(`tar -x${o.gzip ? 'z' : ''}f - -C "${o.rootArchive ? '$R' : '$S'}" || fail "upload: tar exited $?"`);
  body.push(`echo "${MARK} uploaded"`);
  // rm first, a guard: releases share files through hard links (upload.ts), so never write through an existing one
  // (the archive has no REVISION files today: scanSource skips them)
  body.push(`rm -f "$S/REVISION" "$S/REVISION_TIME"; printf '%s\\n' "$REVISION" > "$S/REVISION" && printf '%s\\n' "$REVISION_TIME" > "$S/REVISION_TIME" || fail "cannot write REVISION"`);
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
  body.push(...hookLines(o.hooks, o.hookEnv, vars, 'before_switch', '"$REL"', `if ours; then discard "$REL"; rm -f "$PENDING/$ID"; fi`));
  return script(vars, ...body);
}

/** Runs user hooks in `cwdExpr`; on failure prints a marker, runs `onFail` and exits 1. */
function hookLines(hooks: string[], env: Record<string, string>, vars: Vars, phase: string, cwdExpr: string, onFail: string): string[] {
  if (hooks.length === 0) return [];
  const out: string[] = [];
  const exports: string[] = [];
  for (const [k, v] of Object.entries(env)) {
    vars[k] = v;
    exports.push(k);
  }
  if (exports.length) out.push(`export ${exports.join(' ')}`);
  hooks.forEach((h, i) => {
    vars[`HOOK_${i}`] = h;
    // each hook runs in its own `sh -c` so `exit` or `set -e` inside it cannot end this script
    out.push(`echo "${MARK} hook ${phase} ${i}"`);
    // `hook-failed` (stdout) is parsed by the pipeline; `failed` (stderr) becomes the error message
    out.push(
      `( cd ${cwdExpr} && exec sh -c "$HOOK_${i}" ) </dev/null || { rc=$?; echo "${MARK} hook-failed ${phase} ${i} $rc"; echo "${MARK} failed ${phase} hook #${i + 1} exited $rc" >&2; ${onFail}; exit 1; }`,
    );
  });
  return out;
}

/**
 * Point `current` at `target` atomically: a fresh symlink at "$TMP" renamed over it (`mv -T` on
 * GNU; BusyBox mv has no -T, and renaming a symlink over a symlink is atomic there too), then
 * drop the release's pending marker. `target` and `id` are shell words of the calling script.
 */
function atomicSwitchLines(target: string, id: string): string[] {
  return [
    // (tests before rm: each fork counts in a one-exec rollback)
    `{ { [ ! -e "$TMP" ] && [ ! -L "$TMP" ]; } || rm -f "$TMP"; } && ln -s ${target} "$TMP" || { echo "${MARK} failed cannot create symlink" >&2; exit 1; }`,
    `if mv -T "$TMP" "$CURRENT" 2>/dev/null; then :; else`,
    `  if [ -L "$CURRENT" ] || [ ! -e "$CURRENT" ]; then mv -f "$TMP" "$CURRENT" || { rm -f "$TMP"; echo "${MARK} failed cannot switch current" >&2; exit 1; }`,
    `  else rm -f "$TMP"; echo "${MARK} failed $CURRENT exists and is not a symlink" >&2; exit 1; fi`,
    `fi`,
    `echo "${MARK} switched ${id}"`,
    `[ ! -e "$PENDING/${id}" ] || rm -f "$PENDING/${id}"`,
  ];
}

/**
 * `switch`: point `current` at releases/<id> atomically (a fresh symlink renamed over the old
 * one: `mv -T` on GNU, `mv` of a link onto a link elsewhere), then run `hooks` in current.
 */
export function switchScript(o: {
  root: string;
  id: string;
  hooks: string[];
  hookEnv: Record<string, string>;
  phase: 'after_switch' | 'after_rollback';
  clearBad?: boolean;
  /** switch only while the lock still carries this token (a deploy's forward switch) */
  lockToken?: string;
}): Cmd {
  assertReleaseId(o.id);
  const vars: Vars = { ...baseVars(o.root), ID: o.id, TARGET: `releases/${o.id}`, TMP: `${layout(o.root).root}/.ee-current-${o.id}`, TOKEN: o.lockToken ?? '' };
  const body: string[] = [
    OURS,
    `ours || { echo "${MARK} failed the deploy lock is no longer held by this run" >&2; exit 1; }`,
    `[ -d "$RELEASES/$ID" ] || { echo "${MARK} failed release $ID does not exist" >&2; exit 1; }`,
    o.clearBad ? `rm -f "$RELEASES/$ID/BAD_RELEASE"` : '',
    ...atomicSwitchLines('"$TARGET"', '$ID'),
    ...hookLines(o.hooks, o.hookEnv, vars, o.phase, '"$CURRENT"', ':'),
  ].filter(Boolean);
  return script(vars, ...body);
}

/** placeholders of rollbackScript's history line, filled in by the script */
export const ROLLBACK_TO = '@@ee-rollback-to@@';
export const ROLLBACK_FROM = '@@ee-rollback-from@@';
export const ROLLBACK_COMMIT = '@@ee-rollback-commit@@';

const D = '[0-9]';
/** `case` patterns of a release id: 14 digits, optionally `-` and 1 to 4 digits */
const ID_PATTERN = [0, 1, 2, 3, 4].map((n) => D.repeat(14) + (n ? `-${D.repeat(n)}` : '')).join('|');

/**
 * A whole single-host rollback in one exec: take the lock, pick the target the way the client
 * would (the named release, or the newest release older than `current` without BAD_RELEASE;
 * ids ordered by their 14-digit stem, then the -N suffix), switch, run after_rollback hooks,
 * append history (the line's placeholders filled in here) and revisions.log, unlock.
 * Whenever the client's own path would decide differently or report an error (lock held, no
 * layout, unknown or current release, no previous release, odd `current`), it releases what it
 * took and prints `fallback <why>`: the client then runs the usual open / switch / finish.
 * A failed switch or hook exits 1 with the lock still held: the client records and unlocks.
 */
export function rollbackScript(o: {
  root: string;
  lockInfo: string;
  token: string;
  release?: string;
  hooks: string[];
  /** hook environment except EE_RELEASE, EE_RELEASE_PATH, EE_PREVIOUS_RELEASE (set by the script) */
  hookEnv: Record<string, string>;
  /** history JSON with ROLLBACK_TO / ROLLBACK_FROM / ROLLBACK_COMMIT placeholders */
  historyLine: string;
  /** revisions.log line up to the release id: "alice rolled back to release " */
  revisionsPrefix: string;
}): Cmd {
  if (o.release) assertReleaseId(o.release);
  const vars: Vars = { ...baseVars(o.root), INFO: o.lockInfo, TOKEN: o.token, WANT: o.release ?? '', HLINE: o.historyLine, RPREFIX: o.revisionsPrefix };
  const fill = (ph: string, v: string) => `h=\${h%%${ph}*}${v}\${h#*${ph}}`;
  const body: string[] = [
    `[ -d "$RELEASES" ] || { echo "${MARK} fallback nolayout"; exit 0; }`,
    `mkdir "$LOCK" 2>/dev/null || { echo "${MARK} fallback lock"; exit 0; }`,
    `fallback() { rm -rf "$LOCK"; echo "${MARK} fallback $1"; exit 0; }`,
    `printf '%s\\n' "$INFO" > "$LOCK/info" || fallback lockinfo`,
    `cur=$(readlink "$CURRENT" 2>/dev/null || true); cur=\${cur#releases/}`,
    `case $cur in ${ID_PATTERN}) ;; *) fallback current ;; esac`,
    `older() { a=\${1%%-*}; b=\${2%%-*}; [ "$a" -lt "$b" ] && return 0; [ "$a" -gt "$b" ] && return 1; x=0; y=0; case $1 in *-*) x=\${1#*-} ;; esac; case $2 in *-*) y=\${2#*-} ;; esac; [ "$x" -lt "$y" ]; }`,
    `to=`,
    `if [ -n "$WANT" ]; then`,
    `  [ -d "$RELEASES/$WANT" ] || fallback unknown; [ "$WANT" = "$cur" ] && fallback current; to=$WANT`,
    `else`,
    `  for d in "$RELEASES"/*; do`,
    `    id=\${d##*/}; case $id in ${ID_PATTERN}) ;; *) continue ;; esac`,
    `    [ -d "$d" ] || continue; [ -e "$d/BAD_RELEASE" ] && continue; older "$id" "$cur" || continue`,
    `    if [ -z "$to" ] || older "$to" "$id"; then to=$id; fi`,
    `  done`,
    `  [ -n "$to" ] || fallback noprevious`,
    `fi`,
    `echo "${MARK} plan $cur $to"`,
    `[ -n "$WANT" ] && rm -f "$RELEASES/$to/BAD_RELEASE"`,
    `TMP="$R/.ee-current-$to"`,
    ...atomicSwitchLines('"releases/$to"', '$to'),
  ];
  if (o.hooks.length) body.push(`EE_RELEASE=$to; EE_RELEASE_PATH="$RELEASES/$to"; EE_PREVIOUS_RELEASE=$cur; export EE_RELEASE EE_RELEASE_PATH EE_PREVIOUS_RELEASE`);
  body.push(...hookLines(o.hooks, o.hookEnv, vars, 'after_rollback', '"$CURRENT"', ':'));
  body.push(
    `commit=; [ -f "$RELEASES/$to/REVISION" ] && IFS= read -r commit < "$RELEASES/$to/REVISION"`,
    `case $commit in *[!0-9A-Za-z._-]*) commit= ;; esac`,
    `h=$HLINE; ${fill(ROLLBACK_TO, '$to')}; ${fill(ROLLBACK_FROM, '$cur')}; ${fill(ROLLBACK_COMMIT, '$commit')}`,
    // $META exists: the lock inside it was taken above
    `printf '%s\\n' "$h" >> "$HISTORY" || echo "${MARK} warn cannot append history"`,
    `printf '%s%s\\n' "$RPREFIX" "$to" >> "$REVLOG" || echo "${MARK} warn cannot append revisions.log"`,
    unlockLine(),
    `echo "${MARK} finished"`,
  );
  return script(vars, ...body);
}

/**
 * `finish`: append history + revisions.log, mark or remove failed releases, prune to `keep`
 * (never the current release, never `protect`), release the lock if we hold it.
 */
export function finishScript(o: {
  root: string;
  historyLine?: string;
  revisionsLine?: string;
  markBad?: { id: string; text: string };
  removeRelease?: string;
  /** a release prepared for later (the rest of a `deploy --canary-only`): drop its pending marker so the next run keeps it */
  keepPrepared?: string;
  prune?: string[];
  unlockToken?: string;
}): Cmd {
  const vars: Vars = { ...baseVars(o.root), HLINE: o.historyLine ?? '', RLINE: o.revisionsLine ?? '', TOKEN: o.unlockToken ?? '' };
  const body: string[] = [`mkdir -p "$META"`, DISCARD];
  if (o.historyLine) body.push(`printf '%s\\n' "$HLINE" >> "$HISTORY" || echo "${MARK} warn cannot append history"`);
  if (o.revisionsLine) body.push(`printf '%s\\n' "$RLINE" >> "$REVLOG" || echo "${MARK} warn cannot append revisions.log"`);
  if (o.markBad) {
    vars.BAD_ID = assertReleaseId(o.markBad.id);
    vars.BAD_TEXT = o.markBad.text;
    body.push(`[ -d "$RELEASES/$BAD_ID" ] && printf '%s\\n' "$BAD_TEXT" > "$RELEASES/$BAD_ID/BAD_RELEASE"`);
  }
  if (o.keepPrepared) {
    vars.KEEP_ID = assertReleaseId(o.keepPrepared);
    body.push(`rm -f "$PENDING/$KEEP_ID"`);
  }
  if (o.removeRelease) {
    vars.RM_ID = assertReleaseId(o.removeRelease);
    // also an upload that was cut off (its prepare script killed before it could clean up)
    body.push(`cur=$(readlink "$CURRENT" 2>/dev/null || true); [ "$cur" = "releases/$RM_ID" ] || { discard "$RELEASES/$RM_ID"; rm -f "$MANIFESTS/$RM_ID"; }; rm -f "$PENDING/$RM_ID"; rm -rf "$STAGING/$RM_ID"`);
  }
  (o.prune ?? []).forEach((id, i) => {
    vars[`P${i}`] = assertReleaseId(id);
    body.push(`cur=$(readlink "$CURRENT" 2>/dev/null || true); [ "$cur" = "releases/$P${i}" ] || { discard "$RELEASES/$P${i}"; [ -e "$RELEASES/$P${i}" ] || { rm -f "$MANIFESTS/$P${i}"; echo "${MARK} pruned $P${i}"; }; }`);
  });
  if (o.unlockToken) body.push(unlockLine());
  body.push(`echo "${MARK} finished"`);
  return script(vars, ...body);
}

function unlockLine(): string {
  // read + case rather than grep: no fork (the token is hex)
  return `l=; { IFS= read -r l < "$LOCK/info"; } 2>/dev/null; case $l in *"\\"token\\":\\"$TOKEN\\""*) rm -rf "$LOCK"; echo "${MARK} unlocked" ;; esac`;
}

/** Release the lock only if it still carries `token` (ours). */
export function unlockScript(root: string, token: string): Cmd {
  return script({ ...baseVars(root), TOKEN: token }, unlockLine());
}

/** `ee-deploy unlock`: remove whatever lock is there, printing what it held. */
export function forceUnlockScript(root: string): Cmd {
  return script(baseVars(root), `if [ -d "$LOCK" ]; then echo "${MARK} lock held $(head -n 1 "$LOCK/info" 2>/dev/null)"; rm -rf "$LOCK" && echo "${MARK} unlocked"; else echo "${MARK} lock free"; fi`);
}

/** `ee-deploy lock`: take the lock by hand. */
export function manualLockScript(root: string, info: string): Cmd {
  return script(
    { ...baseVars(root), INFO: info },
    `mkdir -p "$META" || exit 1`,
    `if mkdir "$LOCK" 2>/dev/null; then printf '%s\\n' "$INFO" > "$LOCK/info"; echo "${MARK} lock acquired"; else echo "${MARK} lock held $(head -n 1 "$LOCK/info" 2>/dev/null)"; fi`,
  );
}

/** last `limit` history lines, each as `@@ee hist <json>` */
export function readHistoryScript(root: string, limit: number): Cmd {
  // prefixed, so a history line can never be mistaken for one of our markers
  return script(
    { ...baseVars(root), N: String(Math.max(1, Math.floor(limit))) },
    `if [ -f "$HISTORY" ]; then tail -n "$N" "$HISTORY" | while IFS= read -r l; do printf '%s\\n' "${MARK} hist $l"; done; fi`,
  );
}

/** per-release size in KiB plus REVISION_TIME, for `ee-deploy releases` */
export function releaseDetailsScript(root: string): Cmd {
  return script(
    baseVars(root),
    `for d in "$RELEASES"/*; do [ -d "$d" ] || continue; id=\${d##*/}; sz=$(du -sk "$d" 2>/dev/null | awk '{print $1}'); t=$(head -n 1 "$d/REVISION_TIME" 2>/dev/null); echo "${MARK} size $id \${sz:-0} $t"; done`,
  );
}

/** `check`: is the deploy root (or its nearest existing parent) writable, and how much space is free there? */
export function writableScript(root: string): Cmd {
  return script(
    { R: root },
    `p="$R"; while [ ! -e "$p" ]; do n=$(dirname "$p"); [ "$n" = "$p" ] && break; p="$n"; done`,
    `if [ -w "$p" ]; then echo "${MARK} writable $p"; else echo "${MARK} notwritable $p"; fi`,
    `avail=$(df -Pk "$p" 2>/dev/null | awk 'NR==2 {print $4}'); echo "${MARK} df \${avail:-unknown}"`,
  );
}
