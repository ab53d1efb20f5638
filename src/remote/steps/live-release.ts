/**
 * Reading a live release for `verify` and `diff`, in one exec per host: the release `current`
 * points at (or a named one), its manifest from `.ee-deploy/manifests/<id>`, and (for verify)
 * every entry's type, mode and size (`stat -c`), every file's SHA-256 (`sha256sum`) and every
 * link's target. Only find, stat, sha256sum, readlink and sh: GNU coreutils or BusyBox.
 */
import type { Cmd } from '../shell.js';
import { script } from '../shell.js';
import { layout } from '../layout.js';
import { assertReleaseId } from '../release-id.js';
import { MARK } from '../protocol.js';
import { IS_RELEASE } from './previous.js';

export function liveReleaseScript(root: string, o: { release?: string; hashes: boolean }): Cmd {
  const l = layout(root);
  if (o.release) assertReleaseId(o.release);
  return script(
    { R: l.root, RELEASES: l.releases, CURRENT: l.current, MANIFESTS: l.manifests, ID: o.release ?? '', HASH: o.hashes ? '1' : '' },
    `[ -d "$R" ] || { echo "${MARK} norelease"; exit 0; }`,
    `if [ -z "$ID" ]; then cur=$(readlink "$CURRENT" 2>/dev/null) || { echo "${MARK} norelease"; exit 0; }; cur=\${cur%/}; ID=\${cur##*/}; fi`,
    `D="$RELEASES/$ID"`,
    // only a release (not a link out of releases/, not a foreign entry) is read
    IS_RELEASE,
    `isrelease "$D" || { echo "${MARK} norelease $ID"; exit 0; }`,
    `echo "${MARK} release $ID"`,
    `if [ -f "$MANIFESTS/$ID" ]; then echo "${MARK} manifest"; cat "$MANIFESTS/$ID" || exit 1; echo; echo "${MARK} end"; else echo "${MARK} nomanifest"; fi`,
    `[ -n "$HASH" ] || exit 0`,
    `cd "$D" || exit 1`,
    `echo "${MARK} stats"`,
    `find . -mindepth 1 -exec stat -c '%f %s %n' {} + || exit 1`,
    `echo "${MARK} sums"`,
    `find . -type f -exec sha256sum {} + || exit 1`,
    `echo "${MARK} links"`,
    `find . -type l -exec sh -c 'for l do printf "%s\\t%s\\n" "$l" "$(readlink "$l")"; done' sh {} + || exit 1`,
    `echo "${MARK} done"`,
  );
}

export interface LiveEntry {
  type: 'f' | 'd' | 'l' | 'o';
  mode: number;
  size: number;
  /** files: sha256 hex */
  sha256?: string;
  /** links: the target */
  target?: string;
}

export interface LiveRelease {
  release?: string;
  /** the manifest text, when the server has one */
  manifest?: string;
  /** path (relative, no `./`) -> what is there; present when hashes were asked for */
  entries?: Map<string, LiveEntry>;
}

function typeOf(rawMode: number): LiveEntry['type'] {
  const t = rawMode & 0o170000;
  return t === 0o100000 ? 'f' : t === 0o040000 ? 'd' : t === 0o120000 ? 'l' : 'o';
}

const rel = (p: string) => (p.startsWith('./') ? p.slice(2) : p);

/** sha256sum escapes names holding `\` or a newline: a leading `\`, then `\\` and `\n` in the name */
function unescapeSum(line: string): { hex: string; path: string } | undefined {
  const escaped = line.startsWith('\\');
  const s = escaped ? line.slice(1) : line;
  const m = /^([0-9a-f]{64}) [ *](.*)$/.exec(s);
  if (!m) return undefined;
  const p = escaped ? m[2].replace(/\\(.)/g, (_x, c: string) => (c === 'n' ? '\n' : c)) : m[2];
  return { hex: m[1], path: rel(p) };
}

export function parseLiveRelease(stdout: string): LiveRelease {
  const out: LiveRelease = {};
  const lines = stdout.split('\n');
  let section = '';
  const manifest: string[] = [];
  for (const line of lines) {
    if (line.startsWith(`${MARK} `)) {
      const [word, arg] = line.slice(MARK.length + 1).split(' ', 2);
      if (word === 'release') out.release = arg;
      else if (word === 'norelease') out.release = undefined;
      else if (word === 'stats') out.entries = new Map();
      section = word;
      continue;
    }
    if (section === 'manifest') manifest.push(line);
    else if (section === 'stats' && line) {
      const m = /^([0-9a-f]+) (\d+) (.*)$/.exec(line);
      if (!m) continue;
      const raw = parseInt(m[1], 16);
      out.entries!.set(rel(m[3]), { type: typeOf(raw), mode: raw & 0o7777, size: Number(m[2]) });
    } else if (section === 'sums' && line) {
      const s = unescapeSum(line);
      const e = s && out.entries?.get(s.path);
      if (e) e.sha256 = s.hex;
    } else if (section === 'links' && line) {
      const tab = line.indexOf('\t');
      const e = tab > 0 ? out.entries?.get(rel(line.slice(0, tab))) : undefined;
      if (e) e.target = line.slice(tab + 1);
    }
  }
  if (manifest.length) out.manifest = manifest.join('\n').replace(/\n+$/, '\n');
  return out;
}
