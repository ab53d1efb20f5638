/**
 * Writes the rendered `env_file` into `<path>/shared/<file>`: the content arrives on stdin (never
 * on a command line, where `ps` would show it), lands in a temp file created under umask 077
 * beside the target, and is renamed over it, so readers see the old file or the new one, never a
 * torn or world-readable one. A symlink on the way (shared/ itself or a parent directory of the
 * file) is refused: writing through it would change something outside <path>.
 */
import { posix } from 'node:path';
import type { Cmd } from '../shell.js';
import { script } from '../shell.js';
import { layout } from '../layout.js';

export function envFileScript(root: string, file: string): Cmd {
  if (file.startsWith('/') || file.split('/').includes('..') || /[\0\n\r]/.test(file)) throw new Error(`bad env_file path ${JSON.stringify(file)}`);
  const l = layout(root);
  const vars: Record<string, string> = { SHARED: l.shared, F: file };
  const parents: string[] = [];
  let d = posix.dirname(file);
  while (d !== '.' && d !== '/') {
    parents.unshift(d);
    d = posix.dirname(d);
  }
  const checks = parents.map((_, i) => `[ -L "$SHARED/$P${i}" ] && fail "shared/$P${i} is a symlink"`);
  parents.forEach((p, i) => (vars[`P${i}`] = p));
  return script(
    vars,
    `fail() { echo "env_file: $1" >&2; rm -f "$T"; exit 1; }`,
    `T=`,
    `[ -L "$SHARED" ] && fail "shared is a symlink"`,
    ...checks,
    `mkdir -p "$(dirname "$SHARED/$F")" || fail "cannot create the directory of shared/$F"`,
    `[ -d "$SHARED/$F" ] && fail "shared/$F is a directory"`,
    `T="$SHARED/$F.ee-tmp.$$"`,
    `(umask 077 && cat > "$T") && chmod 600 "$T" && mv -f "$T" "$SHARED/$F" || fail "cannot write shared/$F"`,
  );
}
