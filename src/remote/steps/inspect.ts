/**
 * Read-only steps for `releases`, `history` and `check`: the history tail, each release's size
 * and time, whether the deploy root is writable. inspectScript runs them with the read-only
 * `open` in one exec; parseInspect reads the answer.
 */
import { MARK, say, tags } from '../protocol.js';
import { lines, script, subshell, type Cmd } from '../shell.js';
import { baseVars } from './common.js';
import { openScript, parseState, type ParsedState } from './open.js';
import { IS_RELEASE } from './previous.js';

/** last `limit` history lines, each as a `hist <json>` tag */
export function readHistoryScript(root: string, limit: number): Cmd {
  // prefixed, so a history line can never be mistaken for one of our tags
  return script(
    { ...baseVars(root), N: String(Math.max(1, Math.floor(limit))) },
    `if [ -f "$HISTORY" ]; then tail -n "$N" "$HISTORY" | while IFS= read -r l; do printf '%s\\n' "${MARK} hist $l"; done; fi`,
  );
}

/** the history lines (JSON text, one record a line) of a readHistoryScript answer */
export function parseHistoryLines(stdout: string): string {
  return tags(stdout)
    .filter((t) => t.kind === 'hist')
    .map((t) => t.rest)
    .join('\n');
}

/** per-release size in KiB plus REVISION_TIME, for `ee-deploy releases` */
export function releaseDetailsScript(root: string): Cmd {
  return script(
    baseVars(root),
    IS_RELEASE,
    `for d in "$RELEASES"/*; do isrelease "$d" || continue; id=\${d##*/}; sz=$(du -sk "$d" 2>/dev/null | awk '{print $1}'); t=$(head -n 1 "$d/REVISION_TIME" 2>/dev/null); ${say('size $id ${sz:-0} $t')}; done`,
  );
}

/** `check`: is the deploy root (or its nearest existing parent) writable, and how much space is free there? */
export function writableScript(root: string): Cmd {
  return script(
    { R: root },
    `p="$R"; while [ ! -e "$p" ]; do n=$(dirname "$p"); [ "$n" = "$p" ] && break; p="$n"; done`,
    `if [ -w "$p" ]; then ${say('writable $p')}; else ${say('notwritable $p')}; fi`,
    `avail=$(df -Pk "$p" 2>/dev/null | awk 'NR==2 {print $4}'); ${say('df ${avail:-unknown}')}`,
  );
}

/** state + release sizes + history tail (+ writable check) in one script */
export function inspectScript(root: string, o: { historyLimit: number; checkWritable?: boolean }): Cmd {
  const parts = [openScript(root, { readOnly: true }), releaseDetailsScript(root), readHistoryScript(root, o.historyLimit)];
  if (o.checkWritable) parts.push(writableScript(root));
  // each part in its own subshell: the read-only open script ends with `exit 0` when there is no
  // layout yet, which must not skip the writable check of a host that was never deployed to
  return lines(...parts.map(subshell));
}

export interface InspectAnswer {
  state: ParsedState;
  sizes: Record<string, { kb: number; time?: string }>;
  /** the history tail as JSON lines */
  historyText: string;
  writable?: boolean;
}

export function parseInspect(stdout: string): InspectAnswer {
  const sizes: InspectAnswer['sizes'] = {};
  let writable: boolean | undefined;
  for (const t of tags(stdout)) {
    if (t.kind === 'size') {
      const [id, kb, ...time] = t.words;
      sizes[id] = { kb: Number(kb), time: time.join(' ') || undefined };
    } else if (t.kind === 'writable') writable = true;
    else if (t.kind === 'notwritable') writable = false;
  }
  return { state: parseState(stdout), sizes, historyText: parseHistoryLines(stdout), writable };
}
