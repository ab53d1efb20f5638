/**
 * Pure builders and parsers for load-balancer drain/ready:
 *   HAProxy: runtime API lines (`set server <backend>/<server> state drain|ready`, `show stat`)
 *            and the parse of `show stat`'s CSV; a fallback script that reaches the admin socket
 *            with socat (or `nc -U`) when SSH stream forwarding is not allowed.
 *   nginx:   the upstream file (one `server <addr>;` line per server, `down` while drained),
 *            written atomically and reloaded, put back when the reload fails; and a count of
 *            nginx workers still finishing requests after a reload ("shutting down").
 */
import { kindFailure, MARK } from '../protocol.js';
import { quote, raw, script, type Cmd } from '../shell.js';

export const LB_MARK = `${MARK} lb`;

export type ServerState = 'drain' | 'ready';

const NAME = /^[A-Za-z0-9_.:-]{1,64}$/;

export function haproxySetState(backend: string, server: string, state: ServerState): string {
  if (!NAME.test(backend) || !NAME.test(server)) throw new Error(`invalid HAProxy backend/server name ${backend}/${server}`);
  return `set server ${backend}/${server} state ${state}`;
}

/** `show stat` limited to nothing: the whole CSV (filtering by proxy id needs ids we do not know) */
export const HAPROXY_SHOW_STAT = 'show stat';

export interface HaproxyServerStat {
  /** current sessions on the server */
  scur: number;
  /** UP, DOWN, DRAIN, MAINT, no check, ... */
  status: string;
}

/** Current sessions and status of backend/server from a `show stat` answer (undefined: not there). */
export function parseHaproxyStat(text: string, backend: string, server: string): HaproxyServerStat | undefined {
  const lines = text.split('\n');
  const header = lines.find((l) => l.startsWith('# '));
  if (!header) return undefined;
  const cols = header.slice(2).split(',');
  const [px, sv, sc, st] = ['pxname', 'svname', 'scur', 'status'].map((c) => cols.indexOf(c));
  if (px < 0 || sv < 0 || sc < 0) return undefined;
  for (const l of lines) {
    if (l.startsWith('#') || !l.trim()) continue;
    const v = l.split(',');
    if (v[px] === backend && v[sv] === server) return { scur: Number(v[sc]) || 0, status: st >= 0 ? (v[st] ?? '') : '' };
  }
  return undefined;
}

/**
 * An HAProxy answer that is an error: the runtime API answers a good `set server` with an empty
 * line and a bad one with a message (`No such backend.`, `Unknown command...`, `Permission denied`).
 */
export function haproxyAnswerError(answer: string): string | undefined {
  const t = answer.trim();
  return t === '' ? undefined : t.split('\n')[0];
}

/**
 * Sends one runtime API line to the socket with socat, else `nc -U` (OpenBSD netcat / BusyBox),
 * and prints the answer. Exit 127 with a reason when neither exists.
 */
export function haproxySocketToolScript(socket: string, line: string): Cmd {
  return script(
    { S: socket, L: line },
    `if command -v socat >/dev/null 2>&1; then printf '%s\\n' "$L" | socat -t 5 - "UNIX-CONNECT:$S"`,
    `elif command -v nc >/dev/null 2>&1; then printf '%s\\n' "$L" | nc -U "$S"`,
    `else echo "${LB_MARK} failed SSH stream forwarding to $S was refused and neither socat nor nc is installed" >&2; exit 127; fi`,
  );
}

export interface UpstreamServer {
  address: string;
  down: boolean;
}

/** The nginx upstream file ee-deploy owns: one `server` line per server, `down` while drained. */
export function nginxUpstreamText(servers: UpstreamServer[]): string {
  return servers.map((s) => `server ${s.address}${s.down ? ' down' : ''};\n`).join('');
}

/**
 * Writes `text` to `file` (temp + rename) and runs the user's reload command. When the reload
 * fails, the previous file is put back (and reloaded again), and the script fails: a broken
 * config never stays in place.
 */
export function writeUpstreamScript(file: string, text: string, reload: string): Cmd {
  return script(
    { F: file, TEXT: text },
    `T="$F.ee-new.$$"; P="$F.ee-prev.$$"`,
    `had=0; if [ -f "$F" ]; then cp -p "$F" "$P" || exit 1; had=1; fi`,
    `printf '%s' "$TEXT" > "$T" && mv -f "$T" "$F" || { rm -f "$T" "$P"; echo "${LB_MARK} failed cannot write $F" >&2; exit 1; }`,
    `if ( ${reloadLine(reload)} ) >&2; then rm -f "$P"; echo "${LB_MARK} reloaded"; exit 0; fi`,
    `if [ $had = 1 ]; then mv -f "$P" "$F"; else rm -f "$F"; fi`,
    `( ${reloadLine(reload)} ) >/dev/null 2>&1`,
    `echo "${LB_MARK} failed the reload command failed; $F was put back" >&2; exit 1`,
  );
}

/** a user's reload command is shell text by definition (like a hook) */
function reloadLine(reload: string): string {
  if (/[\0\n\r]/.test(reload)) throw new Error('the reload command must be one line');
  return raw(reload).text;
}

/**
 * nginx's reload is asynchronous (`nginx -s reload` only signals the master), so "the new
 * configuration is in force and the requests of the old one are done" is observed on the
 * workers: a snapshot of every nginx worker (pid, parent, exiting or not) before the reload, then
 * again until the reloaded master (the one with a worker that was not there before) has none of
 * its earlier workers left (they exit once the requests they hold are answered). Other nginx
 * instances on the host are left out by that rule. Reads /proc with the shell's `read` (no ps);
 * a host where the deploy user cannot see nginx's processes shows none: nothing is waited for.
 */
export function nginxWorkersScript(): Cmd {
  return script(
    {},
    `for f in /proc/[0-9]*/cmdline; do c=; { IFS= read -r c < "$f"; } 2>/dev/null; case $c in "nginx: worker process"*) d=\${f%/cmdline}; st=; { IFS= read -r st < "$d/stat"; } 2>/dev/null; [ -n "$st" ] || continue; st=\${st##*) }; set -- $st; x=0; case $c in *"shutting down"*) x=1 ;; esac; echo "${LB_MARK} worker \${d#/proc/} $2 $x" ;; esac; done`,
    `echo "${LB_MARK} workers-end"`,
  );
}

export interface NginxWorker {
  pid: number;
  ppid: number;
  exiting: boolean;
}

export function parseWorkers(stdout: string): NginxWorker[] | undefined {
  if (!stdout.includes(`${LB_MARK} workers-end`)) return undefined;
  const out: NginxWorker[] = [];
  for (const l of stdout.split('\n')) {
    const m = new RegExp(`^${LB_MARK} worker (\\d+) (\\d+) ([01])$`).exec(l);
    if (m) out.push({ pid: Number(m[1]), ppid: Number(m[2]), exiting: m[3] === '1' });
  }
  return out;
}

/**
 * How many workers of the reloaded master(s) from `before` are still running; undefined while no
 * master shows a new worker yet (the reload has not taken effect).
 */
export function workersLeft(before: NginxWorker[], now: NginxWorker[]): number | undefined {
  const old = new Set(before.map((w) => w.pid));
  const masters = new Set(now.filter((w) => !old.has(w.pid)).map((w) => w.ppid));
  if (masters.size === 0) return undefined;
  return now.filter((w) => old.has(w.pid) && masters.has(w.ppid)).length;
}

/** the reason a builder's script gave (`@@ee lb failed <reason>`) */
export function lbFailure(stderr: string): string | undefined {
  return kindFailure(stderr, 'lb');
}

/**
 * Fills `{name}` placeholders of a user's command line with quoted values (a user's command is
 * shell text by definition; the values are data, so each becomes one quoted word). Other braces
 * (`{ a; b; }`, `${VAR}`) are left alone.
 */
export function fillPlaceholders(template: string, values: Record<string, string | number>): string {
  return template.replace(/(\$?)\{([a-z_]+)\}/g, (all, dollar: string, name: string) => (dollar || !(name in values) ? all : quote(String(values[name]))));
}
