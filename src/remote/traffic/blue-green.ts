/**
 * Pure builders for blue-green processes on a host. Two ports; the nginx upstream file names the
 * live one (exactly one line `server 127.0.0.1:<port>;`). Per port, ee-deploy keeps under
 * `<path>/.ee-deploy/blue-green/`:
 *   <port>.pid      the started process's own pid ({pidfile})
 *   <port>.release  the release id it runs
 *   <port>.stopper  pid of the pending "stop after drain_timeout" job (gone once it ran)
 *   <port>.log      the process's stdout and stderr
 * The user's start/stop/reload lines are shell text by definition; their placeholders become
 * shell variables set by these scripts ({port} "$EE_PORT", {pidfile} "$EE_PIDFILE", {release}
 * "$EE_RELEASE"), so no value is ever pasted into a command line. Needs sh, mkdir, mv, rm, cat,
 * and `sleep` for the delayed stop (coreutils and BusyBox both have it).
 */
import { layout } from '../layout.js';
import { kindFailure, MARK } from '../protocol.js';
import { assertReleaseId } from '../release-id.js';
import { script, type Cmd } from '../shell.js';

export const BG_MARK = `${MARK} bg`;

export function blueGreenDir(root: string): string {
  return `${layout(root).meta}/blue-green`;
}

/** exactly the line the upstream file holds */
export function upstreamLine(port: number): string {
  return `server 127.0.0.1:${port};\n`;
}

/** the live port named by an upstream file's text (undefined: no such line) */
export function parseUpstreamPort(text: string): number | undefined {
  const m = /^\s*server\s+127\.0\.0\.1:(\d{1,5})\s*;\s*$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

const PLACEHOLDER_VARS: Record<string, string> = { port: '"$EE_PORT"', pidfile: '"$EE_PIDFILE"', release: '"$EE_RELEASE"' };

/** `{port}`, `{pidfile}`, `{release}` -> the script's quoted variables; `${X}` and `{ a; }` untouched */
export function withPlaceholders(line: string): string {
  if (/[\0\n\r]/.test(line)) throw new Error('blue_green commands must be one line');
  return line.replace(/(\$?)\{([a-z]+)\}/g, (all, dollar: string, name: string) => (dollar || !PLACEHOLDER_VARS[name] ? all : PLACEHOLDER_VARS[name]));
}

/**
 * The start line as the command that BECOMES the app process: for a simple command
 * (`PORT=3001 node server.js`) an `exec` goes after the assignments, so the pid ee-deploy records
 * is the app's own and not a shell's. Compound lines (`;`, `&&`, pipes, subshells) are left as
 * written: end them with `exec ...` yourself (the README says so).
 */
export function execForm(line: string): string {
  const word = `(?:'[^']*'|"(?:[^"\\\\]|\\\\.)*"|[^\\s'"\\\\;&|<>()\`])+`;
  const m = new RegExp(`^\\s*((?:[A-Za-z_][A-Za-z0-9_]*=(?:${word})?\\s+)*)(.*)$`, 's').exec(line);
  if (!m) return line;
  const [, assigns, rest] = m;
  const unquoted = rest.replace(/'[^']*'|"(?:[^"\\]|\\.)*"/g, '');
  if (!rest || /[;&|()`\n<>]/.test(unquoted.replace(/[0-9]*>>?\s*\S+|<\s*\S+/g, '')) || /^(exec|if|while|for|case|until|\{|!)(\s|$)/.test(rest)) return line;
  return `${assigns}exec ${rest}`;
}

function vars(root: string, port: number): Record<string, string> {
  const d = blueGreenDir(root);
  return { R: root, D: d, EE_PORT: String(port), P: `${d}/${port}` };
}

/** absolute paths for the user's command lines (the deploy path may be relative to the login dir) */
const ABS = `case $D in /*) ;; *) D="$(pwd)/$D" ;; esac; case $R in /*) ;; *) R="$(pwd)/$R" ;; esac; P="$D/$EE_PORT"; EE_PIDFILE="$P.pid"`;

/** alive <port>: is the process recorded for that port running? */
const ALIVE = `alive() { p=; { IFS= read -r p < "$D/$1.pid"; } 2>/dev/null; [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }`;
const CANCEL = `cancel() { s=; { IFS= read -r s < "$D/$1.stopper"; } 2>/dev/null; [ -n "$s" ] && kill "$s" 2>/dev/null; rm -f "$D/$1.stopper"; }`;

/** prints `@@ee bg active <port|none>` and per port `@@ee bg port <port> <alive 0|1> <release> <stop pending 0|1>` */
export function blueGreenStateScript(root: string, upstream: string, ports: number[]): Cmd {
  return script(
    { D: blueGreenDir(root), U: upstream, PORTS: ports.join(' ') },
    ALIVE,
    `a=none; if [ -f "$U" ]; then while IFS= read -r l || [ -n "$l" ]; do case $l in *"server 127.0.0.1:"*";"*) a=\${l#*127.0.0.1:}; a=\${a%%;*} ;; esac; done < "$U"; fi`,
    `echo "${BG_MARK} active $a"`,
    `for port in $PORTS; do al=0; alive "$port" && al=1; rel=; { IFS= read -r rel < "$D/$port.release"; } 2>/dev/null; st=0; s=; { IFS= read -r s < "$D/$port.stopper"; } 2>/dev/null; [ -n "$s" ] && kill -0 "$s" 2>/dev/null && st=1; echo "${BG_MARK} port $port $al \${rel:--} $st"; done`,
  );
}

export interface BlueGreenPortState {
  port: number;
  alive: boolean;
  release?: string;
  stopPending: boolean;
}

export interface BlueGreenState {
  active?: number;
  ports: BlueGreenPortState[];
}

export function parseBlueGreenState(stdout: string): BlueGreenState | undefined {
  const st: BlueGreenState = { ports: [] };
  let seen = false;
  for (const l of stdout.split('\n')) {
    if (l.startsWith(`${BG_MARK} active `)) {
      seen = true;
      const v = l.slice(BG_MARK.length + 8).trim();
      st.active = /^\d{1,5}$/.test(v) ? Number(v) : undefined;
    } else if (l.startsWith(`${BG_MARK} port `)) {
      const [port, alive, rel, stop] = l.slice(BG_MARK.length + 6).split(' ');
      st.ports.push({ port: Number(port), alive: alive === '1', release: rel && rel !== '-' ? rel : undefined, stopPending: stop === '1' });
    }
  }
  return seen ? st : undefined;
}

/**
 * Starts `start` in the background on `port`, cwd = the release, detached from the session
 * (stdin /dev/null, output appended to <port>.log, SIGHUP ignored) and records its pid and
 * release. A process still recorded on that port (an old one waiting for its delayed stop) is
 * stopped first. Prints `@@ee bg started <pid>`.
 */
export function blueGreenStartScript(root: string, o: { port: number; release: string; start: string; stop: string }): Cmd {
  assertReleaseId(o.release);
  return script(
    { ...vars(root, o.port), ID: o.release },
    ABS,
    ALIVE,
    CANCEL,
    `EE_RELEASE="$R/releases/$ID"`,
    `[ -d "$EE_RELEASE" ] || { echo "${BG_MARK} failed release $ID is not on this host" >&2; exit 1; }`,
    `mkdir -p "$D" || exit 1`,
    `cancel "$EE_PORT"`,
    // an earlier process still on this port (waiting for its delayed stop) goes first, and must be
    // gone before the new one starts: otherwise it could answer the new one's health check
    `if alive "$EE_PORT"; then ( cd "$EE_RELEASE" && ${withPlaceholders(o.stop)} ) >>"$P.log" 2>&1; i=0; while alive "$EE_PORT" && [ $i -lt 100 ]; do sleep 0.1 2>/dev/null || sleep 1; i=$((i+1)); done; fi`,
    `if alive "$EE_PORT"; then echo "${BG_MARK} failed the earlier process on port $EE_PORT is still running after its stop command" >&2; exit 1; fi`,
    `rm -f "$P.pid" "$P.release"`,
    `cd "$EE_RELEASE" || exit 1`,
    // the start line runs in its own `sh -c`: the placeholders' variables go in its environment
    `export EE_PORT EE_PIDFILE EE_RELEASE`,
    `( trap '' HUP; exec sh -c ${shWord(execForm(withPlaceholders(o.start)))} ) </dev/null >>"$P.log" 2>&1 &`,
    `pid=$!`,
    `echo "$pid" > "$P.pid.tmp" && mv -f "$P.pid.tmp" "$P.pid" && echo "$ID" > "$P.release" || exit 1`,
    `echo "${BG_MARK} started $pid"`,
  );
}

/** a user's line as one single-quoted word for `sh -c`: its text is shell by definition */
function shWord(line: string): string {
  return `'${line.replace(/'/g, `'\\''`)}'`;
}

/** Is the process on `port` still alive (it may exit right after starting)? `@@ee bg alive 0|1` + the log tail on death. */
export function blueGreenAliveScript(root: string, port: number): Cmd {
  return script(vars(root, port), ABS, ALIVE, `if alive "$EE_PORT"; then echo "${BG_MARK} alive 1"; else echo "${BG_MARK} alive 0"; tail -n 5 "$P.log" >&2 2>/dev/null; fi`);
}

/** Runs `stop` for the process on `port` now (cancelling a delayed stop), waits up to ~10 s for it to exit. */
export function blueGreenStopNowScript(root: string, port: number, stop: string): Cmd {
  return script(
    vars(root, port),
    ABS,
    ALIVE,
    CANCEL,
    `cancel "$EE_PORT"`,
    `EE_RELEASE="$R/current"; id=; { IFS= read -r id < "$P.release"; } 2>/dev/null; [ -n "$id" ] && [ -d "$R/releases/$id" ] && EE_RELEASE="$R/releases/$id"`,
    `if alive "$EE_PORT"; then ( cd "$EE_RELEASE" && ${withPlaceholders(stop)} ) >>"$P.log" 2>&1; i=0; while alive "$EE_PORT" && [ $i -lt 100 ]; do sleep 0.1 2>/dev/null || sleep 1; i=$((i+1)); done; fi`,
    `if alive "$EE_PORT"; then echo "${BG_MARK} failed the process on port $EE_PORT is still running after its stop command" >&2; exit 1; fi`,
    `rm -f "$P.pid" "$P.release"`,
    `echo "${BG_MARK} stopped $EE_PORT"`,
  );
}

/**
 * Schedules `stop` for the process on `port` in `delayMs` (rounded up to whole seconds), in a
 * detached job whose pid is kept in <port>.stopper so a rollback can cancel it.
 */
export function blueGreenScheduleStopScript(root: string, port: number, stop: string, delayMs: number): Cmd {
  const secs = Math.max(0, Math.ceil(delayMs / 1000));
  return script(
    { ...vars(root, port), DELAY: String(secs) },
    ABS,
    CANCEL,
    `cancel "$EE_PORT"`,
    `EE_RELEASE="$R/current"; id=; { IFS= read -r id < "$P.release"; } 2>/dev/null; [ -n "$id" ] && [ -d "$R/releases/$id" ] && EE_RELEASE="$R/releases/$id"`,
    `( trap '' HUP; sleep "$DELAY"; p=; { IFS= read -r p < "$P.pid"; } 2>/dev/null; if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then ( cd "$EE_RELEASE" && ${withPlaceholders(stop)} ); fi; rm -f "$P.stopper" "$P.pid" "$P.release" ) </dev/null >>"$P.log" 2>&1 &`,
    `echo "$!" > "$P.stopper"`,
    `echo "${BG_MARK} stop-scheduled $EE_PORT $DELAY"`,
  );
}

/** Cancels a pending delayed stop of the process on `port` (a rollback returning to it). */
export function blueGreenCancelStopScript(root: string, port: number): Cmd {
  return script(vars(root, port), ABS, ALIVE, CANCEL, `cancel "$EE_PORT"`, `if alive "$EE_PORT"; then echo "${BG_MARK} alive 1"; else echo "${BG_MARK} alive 0"; fi`);
}

export function parseAlive(stdout: string): boolean | undefined {
  const m = new RegExp(`^${BG_MARK} alive ([01])$`, 'm').exec(stdout);
  return m ? m[1] === '1' : undefined;
}

export function parseStartedPid(stdout: string): number | undefined {
  const m = new RegExp(`^${BG_MARK} started (\\d+)$`, 'm').exec(stdout);
  return m ? Number(m[1]) : undefined;
}

export function bgFailure(stderr: string): string | undefined {
  return kindFailure(stderr, 'bg');
}
