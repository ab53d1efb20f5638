/**
 * Approval requests on the server: `<path>/.ee-deploy/approvals/<request>.json`. Reading prints
 * every request after a marker line; writing takes the JSON on stdin and renames it into place.
 */
import type { Cmd } from '../shell.js';
import { script } from '../shell.js';
import { layout } from '../layout.js';
import { MARK } from '../protocol.js';
import { MAKE_META } from './common.js';

const DIR = (root: string) => `${layout(root).meta}/approvals`;

export function readApprovalsScript(root: string): Cmd {
  return script({ D: DIR(root) }, `[ -d "$D" ] || exit 0`, `for f in "$D"/*.json; do [ -f "$f" ] || continue; echo "${MARK} approval"; cat "$f"; echo; done`);
}

export function writeApprovalScript(root: string, request: string): Cmd {
  if (!/^[0-9a-f]{12}$/.test(request)) throw new Error(`bad approval request id ${JSON.stringify(request)}`);
  return script(
    { META: layout(root).meta, D: DIR(root), ID: request },
    MAKE_META,
    `mkdir -p "$D" || exit 1`,
    `T="$D/.$ID.tmp.$$"`,
    `cat > "$T" && mv -f "$T" "$D/$ID.json" || { rm -f "$T"; exit 1; }`,
  );
}

/** the JSON texts read by readApprovalsScript */
export function parseApprovals(stdout: string): unknown[] {
  const out: unknown[] = [];
  for (const chunk of stdout.split(`${MARK} approval\n`).slice(1)) {
    try {
      out.push(JSON.parse(chunk));
    } catch {
      // a torn or hand-edited file does not count as an approval
    }
  }
  return out;
}
