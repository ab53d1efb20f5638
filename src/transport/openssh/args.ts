/**
 * Pure builders for the system `ssh` command lines this client runs (argv arrays, never shell
 * text: the one remote command is the Cmd the remote builders quoted, passed as a single argument
 * that ssh sends as is, exactly like the built-in client's exec request) and for the generated
 * ssh config the master reads.
 */
import path from 'node:path';
import type { ResolvedHost } from '../../config/resolve.js';
import { ConfigError } from '../../errors.js';

export const SSH_BIN = process.env.EE_DEPLOY_SSH_BIN || 'ssh';
/** the built-in client's defaults, used when ssh config sets nothing (so both behave alike) */
export const DEFAULT_CONNECT_TIMEOUT_S = 15;
export const DEFAULT_SERVER_ALIVE_INTERVAL_S = 5;
export const DEFAULT_SERVER_ALIVE_COUNT_MAX = 3;
const DEFAULT_KEY_NAMES = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

/** a path as an ssh_config argument (double quotes; a path holding `"` cannot be written) */
function confPath(p: string): string {
  if (/["\n\r]/.test(p)) throw new ConfigError(`ssh_client openssh: cannot pass the path ${JSON.stringify(p)} to ssh (it contains a quote or a newline)`);
  return `"${p}"`;
}

export interface WrapperConfigInput {
  /** $HOME as ee-deploy sees it */
  home: string;
  /** the login's passwd home directory, which ssh uses for `~` */
  passwdHome: string;
  /** the user's ssh config file (default `<home>/.ssh/config`), included when it exists */
  userConfig?: string;
  userConfigExists: boolean;
  /** `/etc/ssh/ssh_config`, or null when the built-in client is told to skip it */
  systemConfig: string | null;
  /** which of `<home>/.ssh/id_ed25519|id_ecdsa|id_rsa` exist */
  defaultKeysPresent: string[];
}

/**
 * The config ssh reads (`-F`): the user's config, then the system one (first value wins, as
 * without -F), then defaults for what neither set. ssh expands `~` from the passwd entry, the
 * built-in client (and the rest of ee-deploy) from $HOME: the defaults name the $HOME files, so
 * both clients use the same known_hosts and keys when the two differ (CI containers, tests).
 */
export function wrapperConfig(i: WrapperConfigInput): string {
  const lines = ['# written by ee-deploy for ssh_client: openssh (removed when the run ends)'];
  if (i.userConfigExists) lines.push(`Include ${confPath(i.userConfig ?? path.join(i.home, '.ssh', 'config'))}`);
  if (i.systemConfig) lines.push(`Include ${confPath(i.systemConfig)}`);
  lines.push(
    'Host *',
    `  UserKnownHostsFile ${confPath(path.join(i.home, '.ssh', 'known_hosts'))} ${confPath(path.join(i.home, '.ssh', 'known_hosts2'))}`,
    // unknown host keys are refused, as by the built-in client, unless your config says otherwise
    // (ssh's own default, `ask`, would prompt on a terminal)
    '  StrictHostKeyChecking yes',
    `  ConnectTimeout ${DEFAULT_CONNECT_TIMEOUT_S}`,
    `  ServerAliveInterval ${DEFAULT_SERVER_ALIVE_INTERVAL_S}`,
    `  ServerAliveCountMax ${DEFAULT_SERVER_ALIVE_COUNT_MAX}`,
    // the key exchange the built-in client negotiates: OpenSSH 9's default, the post-quantum
    // sntrup761x25519 hybrid, costs ~150 ms more CPU per connection; a KexAlgorithms of yours wins
    '  KexAlgorithms ^curve25519-sha256',
  );
  // ssh's own defaults are the passwd home's keys: offer $HOME's (after any IdentityFile)
  if (path.resolve(i.home) !== path.resolve(i.passwdHome)) {
    for (const k of i.defaultKeysPresent) lines.push(`  IdentityFile ${confPath(k)}`);
  }
  return lines.join('\n') + '\n';
}

export function defaultKeyFiles(home: string): string[] {
  return DEFAULT_KEY_NAMES.map((n) => path.join(home, '.ssh', n));
}

/** ee-deploy.yaml's explicit values, which win over ssh config (as with the built-in client) */
export function overrideArgs(host: ResolvedHost): string[] {
  const a: string[] = [];
  if (host.user !== undefined) a.push('-l', host.user);
  if (host.port !== undefined) a.push('-p', String(host.port));
  if (host.identityFile !== undefined) a.push('-i', host.identityFile);
  if (host.jump !== undefined) a.push('-J', host.jump);
  return a;
}

/** `ssh -G`: the settings ssh itself resolved for the host (hostname, port, user, files) */
export function resolveArgs(configFile: string, host: ResolvedHost): string[] {
  return ['-F', configFile, '-G', ...overrideArgs(host), '--', host.name];
}

export interface MasterArgsInput {
  configFile: string;
  controlPath: string;
  host: ResolvedHost;
  connectTimeoutS?: number;
  /** stdin is a TTY: ssh may ask for a passphrase or a security key PIN */
  interactive: boolean;
}

/**
 * The master connection: authenticates, then only serves the commands multiplexed over it
 * (-N). `-v` makes ssh log the server's host key and the key it authenticated with, which the
 * error messages and the history signatures need. Forwardings from ssh config are not set up:
 * the built-in client does not set them up either.
 */
export function masterArgs(i: MasterArgsInput): string[] {
  return [
    '-F', i.configFile,
    '-v',
    '-N', '-T',
    '-o', `BatchMode=${i.interactive ? 'no' : 'yes'}`,
    '-o', 'ControlMaster=yes',
    '-o', `ControlPath=${i.controlPath}`,
    '-o', 'ControlPersist=no',
    '-o', 'ClearAllForwardings=yes',
    '-o', 'PermitLocalCommand=no',
    ...(i.connectTimeoutS !== undefined ? ['-o', `ConnectTimeout=${i.connectTimeoutS}`] : []),
    ...overrideArgs(i.host),
    '--', i.host.name,
  ];
}

/**
 * Options for every client of the master. `-F none`: they read no config (the master did);
 * `ProxyCommand=false`: if the master is gone, ssh must not quietly open a second connection of
 * its own (it would, without a usable control socket), it fails instead.
 */
function muxClient(controlPath: string): string[] {
  return ['-F', 'none', '-S', controlPath, '-o', 'ControlMaster=no', '-o', 'BatchMode=yes', '-o', 'ProxyCommand=false'];
}

/** the host argument of a mux client: ignored by the master, which knows where it is connected */
const MUX_HOST = 'ee-deploy-master';

/** one command over the master; `commandText` is already quoted for the remote shell */
export function execArgs(controlPath: string, commandText: string): string[] {
  return [...muxClient(controlPath), '-T', '-e', 'none', '--', MUX_HOST, commandText];
}

/** a local Unix socket forwarded by the master to `target` on the host (a socket path or 127.0.0.1:port) */
export function forwardArgs(controlPath: string, localSocket: string, target: { path: string } | { port: number }): string[] {
  const to = 'path' in target ? target.path : `127.0.0.1:${target.port}`;
  return [...muxClient(controlPath), '-O', 'forward', '-L', `${localSocket}:${to}`, '--', MUX_HOST];
}

/**
 * The master runs under a tiny `sh` guard holding a pipe from this process on fd 3: when this
 * process dies in any way (even SIGKILL) the pipe closes and the guard ends the master, so no
 * connection outlives its run; once it is gone the guard removes the runtime directory (a
 * killed run leaves nothing behind). While this process lives the pipe stays open: a master that
 * ends earlier is ended with its whole process group, the guard included. `exec` keeps the master's pid = the guard's pid
 * = the process group id. `$EE_RUNTIME_DIR` names the directory.
 */
export const GUARD_SCRIPT =
  '{ read _ <&3; kill -TERM $$; while kill -0 $$; do sleep 1; done; rm -rf "$EE_RUNTIME_DIR"; } >/dev/null 2>&1 & exec "$@" 3<&-';
