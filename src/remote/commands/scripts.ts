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
    HISTORY: l.history,
    REVLOG: l.revisions,
  };
}

/** prints the state block parsed by parseState() */
const PRINT_STATE = `
cur=$(readlink "$CURRENT" 2>/dev/null || true)
echo "${MARK} current $cur"
for d in "$RELEASES"/*; do
  [ -d "$d" ] || continue
  id=\${d##*/}
  bad=0; [ -e "$d/BAD_RELEASE" ] && bad=1
  rev=$(head -c 80 "$d/REVISION" 2>/dev/null | head -n 1 || true)
  echo "${MARK} release $id $bad $rev"
done
avail=$(df -Pk "$R" 2>/dev/null | awk 'NR==2 {print $4}')
echo "${MARK} df \${avail:-unknown}"
for t in tar mkdir ln mv rm cp; do command -v "$t" >/dev/null 2>&1 || echo "${MARK} missing $t"; done
`;

/**
 * `open`: create the layout, take the lock (unless `lock` is false), clean staging leftovers of
 * earlier killed runs (only while holding the lock), print the state.
 * `breakToken`: remove an existing lock first, but only if it still carries this token.
 */
export function openScript(root: string, opts: { lockInfo?: string; breakToken?: string; readOnly?: boolean }): Cmd {
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
      `  rm -rf "$STAGING"/* 2>/dev/null`,
      `else`,
      `  echo "${MARK} lock held $(head -n 1 "$LOCK/info" 2>/dev/null)"`,
      `  exit 0`,
      `fi`,
    );
  }
  body.push(PRINT_STATE);
  return script(vars, ...body);
}

export interface ParsedState {
  lock: { status: 'acquired' | 'held' | 'free' | 'none'; info?: string; broken?: boolean };
  current?: string;
  releases: { id: string; bad: boolean; revision?: string }[];
  availableKb?: number;
  missingTools: string[];
  noLayout: boolean;
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
  /** hard-link-copy the release `current` points at first (incremental upload), then delete these */
  baseRelease?: string;
  deletions?: string[];
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
  };
  const body: string[] = [
    `fail() { echo "${MARK} failed $1" >&2; rm -rf "$S"; exit 1; }`,
    `[ -e "$REL" ] && { echo "${MARK} failed release $ID already exists" >&2; exit 1; }`,
    `rm -rf "$S" && mkdir -p "$S" || fail "cannot create staging directory"`,
  ];
  if (o.baseRelease) {
    vars.BASE = l.release(o.baseRelease);
    // hard links make the copy nearly free; tar later replaces (unlinks) files, never writes through
    body.push(`cp -al "$BASE/." "$S/" 2>/dev/null || { rm -rf "$S" && mkdir -p "$S" && cp -a "$BASE/." "$S/"; } || fail "cannot copy the previous release"`);
    body.push(`rm -f "$S/BAD_RELEASE"`);
    (o.deletions ?? []).forEach((d, i) => {
      vars[`DEL${i}`] = d;
      body.push(`rm -rf "$S/$DEL${i}"`);
    });
  }
  body.push(`tar -x${o.gzip ? 'z' : ''}f - -C "$S" || fail "upload: tar exited $?"`);
  body.push(`printf '%s\\n' "$REVISION" > "$S/REVISION" && printf '%s\\n' "$REVISION_TIME" > "$S/REVISION_TIME" || fail "cannot write REVISION"`);
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
  body.push(`mv "$S" "$REL" || fail "cannot move the release into place"`);
  body.push(`echo "${MARK} prepared"`);
  body.push(...hookLines(o.hooks, o.hookEnv, vars, 'before_switch', '"$REL"', `rm -rf "$REL"`));
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
    out.push(`( cd ${cwdExpr} && exec sh -c "$HOOK_${i}" ) </dev/null || { rc=$?; echo "${MARK} hook-failed ${phase} ${i} $rc"; ${onFail}; exit 1; }`);
  });
  return out;
}

/**
 * `switch`: point `current` at releases/<id> atomically (a fresh symlink renamed over the old
 * one: `mv -T` on GNU, `mv` of a link onto a link elsewhere), then run `hooks` in current.
 */
export function switchScript(o: { root: string; id: string; hooks: string[]; hookEnv: Record<string, string>; phase: 'after_switch' | 'after_rollback'; clearBad?: boolean }): Cmd {
  assertReleaseId(o.id);
  const vars: Vars = { ...baseVars(o.root), ID: o.id, TARGET: `releases/${o.id}`, TMP: `${layout(o.root).root}/.ee-current-${o.id}` };
  const body: string[] = [
    `[ -d "$RELEASES/$ID" ] || { echo "${MARK} failed release $ID does not exist" >&2; exit 1; }`,
    o.clearBad ? `rm -f "$RELEASES/$ID/BAD_RELEASE"` : '',
    `rm -f "$TMP" && ln -s "$TARGET" "$TMP" || { echo "${MARK} failed cannot create symlink" >&2; exit 1; }`,
    `if mv -T "$TMP" "$CURRENT" 2>/dev/null; then :; else`,
    // BusyBox mv has no -T; renaming a symlink over a symlink is atomic there too
    `  if [ -L "$CURRENT" ] || [ ! -e "$CURRENT" ]; then mv -f "$TMP" "$CURRENT" || { rm -f "$TMP"; echo "${MARK} failed cannot switch current" >&2; exit 1; }`,
    `  else rm -f "$TMP"; echo "${MARK} failed $CURRENT exists and is not a symlink" >&2; exit 1; fi`,
    `fi`,
    `echo "${MARK} switched $ID"`,
    ...hookLines(o.hooks, o.hookEnv, vars, o.phase, '"$CURRENT"', ':'),
  ].filter(Boolean);
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
  prune?: string[];
  unlockToken?: string;
}): Cmd {
  const vars: Vars = { ...baseVars(o.root), HLINE: o.historyLine ?? '', RLINE: o.revisionsLine ?? '', TOKEN: o.unlockToken ?? '' };
  const body: string[] = [`mkdir -p "$META"`];
  if (o.historyLine) body.push(`printf '%s\\n' "$HLINE" >> "$HISTORY" || echo "${MARK} warn cannot append history"`);
  if (o.revisionsLine) body.push(`printf '%s\\n' "$RLINE" >> "$REVLOG" || echo "${MARK} warn cannot append revisions.log"`);
  if (o.markBad) {
    vars.BAD_ID = assertReleaseId(o.markBad.id);
    vars.BAD_TEXT = o.markBad.text;
    body.push(`[ -d "$RELEASES/$BAD_ID" ] && printf '%s\\n' "$BAD_TEXT" > "$RELEASES/$BAD_ID/BAD_RELEASE"`);
  }
  if (o.removeRelease) {
    vars.RM_ID = assertReleaseId(o.removeRelease);
    body.push(`cur=$(readlink "$CURRENT" 2>/dev/null || true); [ "$cur" = "releases/$RM_ID" ] || rm -rf "$RELEASES/$RM_ID"`);
  }
  (o.prune ?? []).forEach((id, i) => {
    vars[`P${i}`] = assertReleaseId(id);
    body.push(`cur=$(readlink "$CURRENT" 2>/dev/null || true); [ "$cur" = "releases/$P${i}" ] || { rm -rf "$RELEASES/$P${i}" && echo "${MARK} pruned $P${i}"; }`);
  });
  if (o.unlockToken) body.push(unlockLine());
  body.push(`echo "${MARK} finished"`);
  return script(vars, ...body);
}

function unlockLine(): string {
  return `if grep -q "\\"token\\":\\"$TOKEN\\"" "$LOCK/info" 2>/dev/null; then rm -rf "$LOCK"; echo "${MARK} unlocked"; fi`;
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

/** `check`: is the deploy root (or its nearest existing parent) writable? */
export function writableScript(root: string): Cmd {
  return script(
    { R: root },
    `p="$R"; while [ ! -e "$p" ]; do n=$(dirname "$p"); [ "$n" = "$p" ] && break; p="$n"; done`,
    `if [ -w "$p" ]; then echo "${MARK} writable $p"; else echo "${MARK} notwritable $p"; fi`,
  );
}
