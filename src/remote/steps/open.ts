/**
 * The `open` step, a run's first exec on a host: create the layout, take the lock (unless told
 * not to), clean up after runs that were killed (only while holding the lock), print the state
 * (current, releases, the previous release, free space, missing tools) and, for a deploy, the manifest of the upload base (upload-base.ts).
 */
import { MARK, say, tags } from '../protocol.js';
import { REQUIRED_TOOLS } from '../server-tools.js';
import { script, type Cmd } from '../shell.js';
import { baseVars, DISCARD, MAKE_META, READ_CURRENT, type Vars } from './common.js';
import { acquireLines, END_RUN, GUARD_WAIT, LOCK_STATUS, OURS, parseLockAnswer, TAKE_OVER, type LockAnswer } from './lock.js';
import { CLAIM, ownerCheck } from './ownership.js';
import { ID_PATTERN, PREVIOUS } from './previous.js';
import { baseStateLines, parseBaseChanged, type BaseChanged } from './upload-base.js';


/** prints the state block parsed by parseState() */
const PRINT_STATE = `
${READ_CURRENT}
${say('current $cur')}
${PREVIOUS}
for d in "$RELEASES"/*; do
  id=\${d##*/}
  if ! isrelease "$d"; then { [ -e "$d" ] || [ -L "$d" ]; } && foreign "$id"; continue; fi
  bad=0; [ -e "$d/BAD_RELEASE" ] && bad=1
  rev=; IFS= read -r rev < "$d/REVISION"  # a builtin: no fork per release
  printf '%s\\n' "${MARK} release $id $bad $rev"
done
pc=\${cur#releases/}; case $pc in '') previous '' ;; ${ID_PATTERN}) previous "$pc" ;; *) prev= ;; esac
[ -z "$prev" ] || ${say('previous $prev')}
avail=$(df -Pk "$R" 2>/dev/null | { read -r _; read -r _ _ _ a _; echo "$a"; })
${say('df ${avail:-unknown}')}
for t in ${REQUIRED_TOOLS.join(' ')}; do command -v "$t" >/dev/null 2>&1 || ${say('missing $t')}; done
# the history's last line: the next one names its hash (\`prev\`, the audit chain)
if [ -s "$HISTORY" ]; then hl=$(tail -n 1 "$HISTORY"); [ -n "$hl" ] && printf '%s\n' "${MARK} histlast $hl"; fi
`;

/**
 * `open`: create the layout, take the lock (unless `lockInfo` is undefined; first taking over a
 * lock whose holder left nothing running on the server), clean staging leftovers of earlier
 * killed runs (only while holding the lock), print the state.
 * `guard` (the run's lock token): once the lock is taken this script stays as the run's guard
 * (lock.ts): it prints `opened` after the state, then waits for the client to close its stdin,
 * and ends the run's server-side work if the run had not released the lock by then.
 */
export function openScript(root: string, opts: { lockInfo?: string; guard?: string; readOnly?: boolean; manifests?: string[]; project?: string; force?: boolean }): Cmd {
  const guard = opts.guard !== undefined && opts.lockInfo !== undefined && !opts.readOnly;
  const vars: Vars = { ...baseVars(root), INFO: opts.lockInfo ?? '', TOKEN: guard ? opts.guard! : '', PROJECT: opts.project ?? '', FORCE: opts.force ? '1' : '' };
  // the project that owns <path> (ownership.ts), before anything changes: another one stops here
  const body: string[] = [ownerCheck()];
  if (opts.readOnly) {
    body.push(`if [ ! -d "$R" ]; then ${say('nolayout')}; exit 0; fi`);
    body.push(LOCK_STATUS);
  } else {
    // a guard outlives its client's output pipe: a write to it must fail, not kill the script
    if (guard) body.push(`trap '' PIPE`);
    body.push(`set -e`, `mkdir -p "$RELEASES" "$SHARED"`, MAKE_META, `mkdir -p "$STAGING"`, `set +e`);
  }
  if (opts.lockInfo !== undefined && !opts.readOnly) {
    body.push(TAKE_OVER);
    body.push(
      ...acquireLines(
        [
          // leftovers of runs that were killed: staging uploads, temp links of a switch, releases
          // that were prepared but never switched to (their pending marker), the trash
          `rm -rf "$STAGING"/* 2>/dev/null; rm -f "$R"/.ee-current-* 2>/dev/null`,
          DISCARD,
          READ_CURRENT,
          `for m in "$PENDING"/*; do`,
          `  [ -f "$m" ] || continue; id=\${m##*/}`,
          `  case $id in *[!0-9-]*) ;; *) if [ "$cur" != "releases/$id" ] && [ -d "$RELEASES/$id" ]; then discard "$RELEASES/$id"; rm -f "$MANIFESTS/$id"; ${say('cleaned $id')}; fi ;; esac`,
          `  rm -f "$m"`,
          `done`,
          `rm -rf "$TRASH"/* 2>/dev/null`,
          CLAIM,
        ],
        ['exit 0'],
        guard,
      ),
    );
  }
  body.push(PRINT_STATE);
  if (opts.manifests) {
    vars.HAVE = opts.manifests.filter((d) => /^[0-9a-f]{32}$/.test(d)).join(' ');
    // under the lock only: manifests of releases that are gone
    if (!opts.readOnly) body.push(`for m in "$MANIFESTS"/*; do [ -f "$m" ] || continue; [ -d "$RELEASES/\${m##*/}" ] || rm -f "$m"; done 2>/dev/null`);
    // the upload base's manifest: only its digest when the client already has it ($HAVE)
    body.push(...baseStateLines(!opts.readOnly && opts.lockInfo !== undefined));
  }
  if (guard) body.push(say('opened'), OURS, END_RUN, GUARD_WAIT);
  return script(vars, ...body.filter(Boolean));
}

/** The manifest part of an `open` answer (openScript's `manifests` option): the upload base's. */
export interface RemoteManifest {
  /** the id of the upload the base holds (upload-base.ts) */
  release: string;
  /** the digest in its manifest's header */
  digest?: string;
  /** the full text, unless the client already has this digest (`cached`) */
  text?: string;
  cached?: boolean;
}

export function parseManifestBlock(stdout: string): RemoteManifest | undefined {
  const m = new RegExp(`^${MARK} manifest(-begin| cached) (\\S+)(?: ([0-9a-f]{32}))?$`, 'm').exec(stdout);
  if (!m) return undefined;
  if (m[1] === ' cached') return { release: m[2], digest: m[3], cached: true };
  const start = m.index + m[0].length + 1;
  const end = stdout.indexOf(`\n${MARK} manifest-end`, start);
  if (end < 0) return { release: m[2] }; // truncated: treat as missing
  return { release: m[2], digest: m[3], text: stdout.slice(start, end) };
}

/**
 * Collects a guarding `open`'s stdout as it streams: `write` returns the whole output once the
 * `opened` line arrived (the exec itself goes on as the run's guard).
 */
export class OpenCapture {
  private chunks: string[] = [];
  private tail = '';
  write(chunk: string): string | undefined {
    this.chunks.push(chunk);
    const text = this.tail + chunk;
    if (text.includes(`\n${MARK} opened\n`) || text.startsWith(`${MARK} opened\n`)) return this.chunks.join('');
    this.tail = text.slice(-(MARK.length + 9));
    return undefined;
  }
}

export interface ParsedState {
  lock: Omit<LockAnswer, 'unlocked'>;
  current?: string;
  releases: { id: string; bad: boolean; revision?: string }[];
  /** entries of releases/ that are no release (previous.ts IS_RELEASE): ignored, only reported */
  foreign: string[];
  /** the previous release of `current`, as the server computes it (previous.ts) */
  previous?: string;
  availableKb?: number;
  missingTools: string[];
  noLayout: boolean;
  /** releases an interrupted run prepared but never switched to, removed by this `open` */
  cleaned?: string[];
  /** the upload base's manifest, when openScript was asked for it and the base passed its check */
  manifest?: RemoteManifest;
  /** the upload base failed its check (changed on the server) */
  baseChanged?: BaseChanged;
  /** the last line of the history file (the next line's `prev` is its hash) */
  lastHistory?: string;
  /** the project recorded as the owner of <path> (`.ee-deploy/project`) */
  owner?: string;
}

/** the state before a host's first `open` answered */
export function emptyState(): ParsedState {
  return { lock: { status: 'none' }, releases: [], foreign: [], missingTools: [], noLayout: false };
}

/** one line naming what `releases/` holds besides releases (undefined when nothing) */
export function foreignNote(foreign: string[]): string | undefined {
  if (!foreign.length) return undefined;
  const shown = foreign.slice(0, 10).map((n) => JSON.stringify(n)).join(', ');
  return `ignored in releases/ (not a release: no 14-digit id, not a directory, or no REVISION): ${shown}${foreign.length > 10 ? ` and ${foreign.length - 10} more` : ''}`;
}

export function parseState(stdout: string): ParsedState {
  const s = emptyState();
  const { unlocked: _, ...lock } = parseLockAnswer(stdout);
  s.lock = lock;
  for (const { kind, words, rest: arg } of tags(stdout)) {
    switch (kind) {
      case 'current': {
        const m = /^releases\/(.+)$/.exec(arg.replace(/\/+$/, ''));
        s.current = m ? m[1] : arg || undefined;
        break;
      }
      case 'release':
        s.releases.push({ id: words[0], bad: words[1] === '1', revision: words.slice(2).join(' ') || undefined });
        break;
      case 'foreign':
        s.foreign.push(arg);
        break;
      case 'df':
        s.availableKb = /^\d+$/.test(arg) ? Number(arg) : undefined;
        break;
      case 'previous':
        s.previous = arg || undefined;
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
      case 'base-changed':
        s.baseChanged = parseBaseChanged(words);
        break;
      case 'histlast':
        s.lastHistory = arg;
        break;
      case 'owner':
        s.owner = arg || undefined;
        break;
      case 'manifest':
      case 'manifest-begin':
        s.manifest = parseManifestBlock(stdout);
        break;
    }
  }
  return s;
}
