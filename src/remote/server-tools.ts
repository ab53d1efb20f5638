/**
 * What the remote scripts need on a server, in one place: the open step checks the required
 * tools (a deploy stops in preflight, naming what is missing), the README lists both lists, and
 * test/unit/server-tools.test.ts fails when a builder starts to run a command that is on neither.
 * GNU coreutils and BusyBox both provide all of them.
 */

/** every deploy, rollback and read command uses these (besides `sh` itself) */
export const REQUIRED_TOOLS = ['sh', 'tar', 'mkdir', 'rm', 'mv', 'ln', 'cp', 'readlink', 'cat', 'head', 'tail', 'awk', 'dirname', 'df', 'du', 'sleep', 'touch', 'ls', 'wc'];

/** needed only by the feature named */
export const OPTIONAL_TOOLS: Record<string, string> = {
  gzip: 'compressed uploads (`compress: auto`, the default over SSH, or `on`; BusyBox tar has its own)',
  setsid: 'a timed-out hook is killed with its whole process group (without it, only the hook shell)',
  find: 'reusing the upload base (without it every upload is a full one) and `verify`',
  stat: '`verify` (mode and size of each entry)',
  sha256sum: '`verify` (content hashes)',
  chmod: '`env_file` (written mode 600)',
  socat: '`load_balancer: haproxy` when SSH stream forwarding to its socket is refused (else `nc -U`)',
  nc: '`load_balancer: haproxy` fallback, as `socat` (OpenBSD netcat or BusyBox nc, with `-U`)',
};

/** built into every `sh` ee-deploy supports (dash, bash, BusyBox ash): nothing to install */
export const SH_BUILTINS = [':', '[', 'break', 'cd', 'command', 'continue', 'echo', 'exec', 'exit', 'export', 'false', 'kill', 'printf', 'pwd', 'read', 'return', 'set', 'shift', 'test', 'trap', 'true', 'umask', 'unset', 'wait'];
