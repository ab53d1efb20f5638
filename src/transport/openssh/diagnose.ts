/**
 * What the system `ssh` said, turned into what the built-in client says: `ssh -G` output into
 * the host's settings (for `user@host:port` labels and the known_hosts files), and the master's
 * `-v` log into the key it authenticated with, or into the same one-line ConnectionError /
 * HostKeyError (exit 3) the built-in client raises for the same failure. Pure functions.
 */
import { readFileSync } from 'node:fs';
import { ConnectionError, HostKeyError, type EeError } from '../../errors.js';
import { entryMatchesName, fingerprintSha256, lookupName, parseKnownHosts, type KnownHostEntry } from '../ssh/known-hosts.js';
import { SHORT_TYPE, sq } from '../ssh/host-key.js';
import { hostLabel, tilde } from '../ssh/ssh-config.js';

/** what ssh resolved for a host (`ssh -G`) */
export interface OpenSshSettings {
  alias: string;
  hostName: string;
  user: string;
  port: number;
  userKnownHostsFiles: string[];
  globalKnownHostsFiles: string[];
  hostKeyAlias?: string;
  proxyJump?: string;
  proxyCommand?: string;
  identityAgent?: string;
  connectTimeoutS?: number;
  /** as `ssh -G` prints it: true (yes), false (no), accept-new, ask (also ssh's default) */
  strictHostKeyChecking: string;
}

export function parseSshG(alias: string, text: string): OpenSshSettings {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp <= 0) continue;
    const k = line.slice(0, sp).toLowerCase();
    if (!m.has(k)) m.set(k, line.slice(sp + 1).trim());
  }
  const list = (k: string) => (m.get(k) ?? '').split(/\s+/).filter((f) => f && f !== 'none');
  const opt = (k: string) => {
    const v = m.get(k);
    return v && v !== 'none' ? v : undefined;
  };
  const timeout = Number(m.get('connecttimeout'));
  return {
    alias,
    hostName: (m.get('hostname') ?? alias).toLowerCase(),
    user: m.get('user') ?? '',
    port: Number(m.get('port') ?? 22),
    userKnownHostsFiles: list('userknownhostsfile'),
    globalKnownHostsFiles: list('globalknownhostsfile'),
    ...(opt('hostkeyalias') ? { hostKeyAlias: opt('hostkeyalias')!.toLowerCase() } : {}),
    ...(opt('proxyjump') ? { proxyJump: opt('proxyjump') } : {}),
    ...(opt('proxycommand') ? { proxyCommand: opt('proxycommand') } : {}),
    ...(opt('identityagent') ? { identityAgent: opt('identityagent') } : {}),
    ...(Number.isFinite(timeout) && timeout > 0 ? { connectTimeoutS: timeout } : {}),
    strictHostKeyChecking: (m.get('stricthostkeychecking') ?? 'ask').toLowerCase(),
  };
}

export function label(s: OpenSshSettings): string {
  return hostLabel(s);
}

/** a key as ssh's `-v` log names it: `<file or comment> <TYPE> SHA256:... [explicit] [agent] [token]` */
export interface LoggedKey {
  name: string;
  type: string;
  fingerprint: string;
  agent: boolean;
  token: boolean;
}

const KEY_RE = /^(.*?)\s+(\S+)\s+(SHA256:[A-Za-z0-9+/=]+)((?:\s+\w+)*)\s*$/;

function loggedKey(rest: string): LoggedKey | undefined {
  const m = KEY_RE.exec(rest);
  if (!m) return undefined;
  const flags = m[4].trim().split(/\s+/);
  return { name: m[1], type: m[2], fingerprint: m[3], agent: flags.includes('agent'), token: flags.includes('token') };
}

export interface MasterLog {
  /** `ssh-ed25519`, ... and its `SHA256:` fingerprint, once the server sent it */
  hostKey?: { type: string; fingerprint: string };
  /** the key the server accepted (the connection authenticated with it) */
  accepted?: LoggedKey;
  /** what was offered / skipped, for the "permission denied" summary */
  tried: string[];
  skipped: string[];
  /** ssh's own lines that are not debug output */
  messages: string[];
  /** the address ssh connected to (`Connecting to name [address] port N`) */
  address?: string;
}

export function parseMasterLog(text: string, home: string): MasterLog {
  const log: MasterLog = { tried: [], skipped: [], messages: [] };
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trimEnd();
    if (!line) continue;
    let m: RegExpExecArray | null;
    if ((m = /^debug\d: Server host key: (\S+) (SHA256:\S+)/.exec(line))) log.hostKey = { type: m[1], fingerprint: m[2] };
    else if ((m = /^debug\d: Connecting to \S+ \[([^\]]+)\] port \d+/.exec(line))) log.address = m[1];
    else if ((m = /^debug\d: Server accepts key: (.*)$/.exec(line))) log.accepted = loggedKey(m[1]);
    else if ((m = /^debug\d: Offering public key: (.*)$/.exec(line))) {
      const k = loggedKey(m[1]);
      const shown = k?.agent ? 'ssh-agent' : tilde(k?.name ?? m[1], home);
      if (!log.tried.includes(shown)) log.tried.push(shown);
    } else if ((m = /^debug\d: Trying private key: (.*)$/.exec(line))) {
      const shown = tilde(m[1], home);
      if (!log.tried.includes(shown)) log.tried.push(shown);
    } else if ((m = /^Load key "(.*)": (.*)$/.exec(line))) {
      const shown = tilde(m[1], home);
      log.tried = log.tried.filter((t) => t !== shown);
      log.skipped.push(`${shown} (${m[2]})`);
    } else if (!/^(debug\d|OpenSSH_|Authenticated to |Transferred: |Bytes per second|Warning: Permanently added|Pseudo-terminal)/.test(line) && !/^[@ ]/.test(line)) {
      log.messages.push(line);
    }
  }
  return log;
}


function readEntries(files: string[]): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  for (const f of files) {
    try {
      out.push(...parseKnownHosts(readFileSync(f, 'utf8'), f));
    } catch {
      /* missing or unreadable: as ssh, skip it */
    }
  }
  return out;
}

/**
 * ssh refused the server's key: the built-in client's message for the same case, worked out
 * from the same known_hosts files (the server's key is known by its fingerprint from the log).
 */
export function hostKeyFailure(s: OpenSshSettings, log: MasterLog, home: string, hostId: string): EeError {
  const l = label(s);
  const key = log.hostKey;
  if (!key) return new HostKeyError(`host key of ${l} was refused by ssh: ${log.messages.at(-1) ?? 'Host key verification failed.'}`, { host: hostId });
  const q = { host: s.hostName, port: s.port, ...(s.hostKeyAlias ? { hostKeyAlias: s.hostKeyAlias } : {}) };
  const name = lookupName(q);
  const entries = readEntries([...s.userKnownHostsFiles, ...s.globalKnownHostsFiles]);
  const revoked = entries.find((e) => e.marker === 'revoked' && fingerprintSha256(e.key) === key.fingerprint && entryMatchesName(e, name));
  if (revoked) {
    return new HostKeyError(`host key of ${l} (${key.fingerprint}) is marked @revoked in ${revoked.file ? tilde(revoked.file, home) : 'known_hosts'}:${revoked.line}; refusing to connect`, { host: hostId });
  }
  const mine = entries.filter((e) => !e.marker && entryMatchesName(e, name));
  const sameType = mine.filter((e) => e.keyType === key.type);
  if (sameType.length && !sameType.some((e) => fingerprintSha256(e.key) === key.fingerprint)) {
    const was = sameType.map((e) => `${fingerprintSha256(e.key)} (${e.file ? tilde(e.file, home) : 'known_hosts'}:${e.line})`).join(', ');
    const file = sameType[0].file ? ` -f ${sq(tilde(sameType[0].file, home))}` : '';
    return new HostKeyError(
      `host key of ${l} has CHANGED (possible man-in-the-middle attack): server offers ${key.fingerprint}, known_hosts has ${was}; ` +
        `if the change is expected, remove the old key with \`ssh-keygen${file} -R ${sq(name)}\``,
      { host: hostId },
    );
  }
  if (mine.some((e) => fingerprintSha256(e.key) === key.fingerprint)) {
    // known to us, refused by ssh (a KnownHostsCommand, a CA line, ...): say what ssh said
    return new HostKeyError(`host key of ${l} was refused by ssh: ${log.messages.at(-1) ?? 'Host key verification failed.'}`, { host: hostId });
  }
  const t = SHORT_TYPE[key.type] ?? { display: key.type, scan: key.type };
  const otherTypes = [...new Set(mine.map((e) => e.keyType))];
  const userFile = s.userKnownHostsFiles[0] ?? `${home}/.ssh/known_hosts`;
  const portFlag = s.port === 22 ? '' : `-p ${s.port} `;
  const via = s.proxyJump;
  const sshOnce = `ssh ${via ? `-J ${sq(via)} ` : ''}${portFlag}${sq(s.user)}@${sq(s.hostKeyAlias ? s.alias : s.hostName)}`;
  const trust =
    via || s.hostKeyAlias
      ? `connect once with \`${sshOnce}\` and accept the key`
      : `run \`ssh-keyscan ${portFlag}-t ${t.scan} ${sq(s.hostName)} >> ${sq(tilde(userFile, home))}\` (or connect once with \`${sshOnce}\`)`;
  const other = otherTypes.length ? ` (known_hosts has only ${otherTypes.join(', ')} keys for it)` : '';
  return new HostKeyError(`host key of ${l} is not known${other}: ${t.display} key ${key.fingerprint}; if that is the server's key, ${trust}`, { host: hostId });
}

function authSummary(log: MasterLog): string {
  const parts: string[] = [];
  if (log.tried.length) parts.push(`tried ${log.tried.join(', ')}`);
  if (log.skipped.length) parts.push(`skipped ${log.skipped.join('; ')}`);
  if (!parts.length) parts.push('no key to offer');
  else if (!log.tried.length) parts.unshift('no key could be offered');
  return parts.join('; ');
}

const CONNECT_REASON: [RegExp, (s: OpenSshSettings, timeoutS: number) => string][] = [
  [/Connection refused/i, () => 'connection refused (is sshd running on that port?)'],
  [/timed out|Operation timed out/i, (_s, t) => `timed out after ${t}s`],
  [/No route to host/i, () => 'host unreachable'],
  [/Network is unreachable/i, () => 'network unreachable'],
  [/Connection reset/i, () => 'connection reset by the remote host'],
];

/** why the master exited before it was ready, as the built-in client would say it */
export function connectFailure(s: OpenSshSettings, logText: string, home: string, hostId: string, timeoutS: number): EeError {
  const log = parseMasterLog(logText, home);
  const l = label(s);
  const all = log.messages.join('\n');
  if (/Host key verification failed|HOST IDENTIFICATION HAS CHANGED|REVOKED HOST KEY/i.test(logText)) return hostKeyFailure(s, log, home, hostId);
  if (/Permission denied \(/.test(all) || /Too many authentication failures/.test(all)) {
    return new ConnectionError(`cannot log in to ${l}: permission denied; ${authSummary(log)}`, { host: hostId });
  }
  let m = /Could not resolve hostname (\S+?):/.exec(all);
  if (m) return new ConnectionError(`cannot connect to ${l}: host name "${m[1].toLowerCase()}" not found`, { host: hostId });
  if (/banner exchange/i.test(all) && /timed out/i.test(all)) return new ConnectionError(`cannot connect to ${l}: timed out after ${timeoutS}s`, { host: hostId });
  m = /connect to host \S+ port \d+: (.*)$/m.exec(all);
  if (m) {
    const reason = CONNECT_REASON.find(([re]) => re.test(m![1]));
    return new ConnectionError(`cannot connect to ${l}: ${reason ? reason[1](s, timeoutS) : m[1]}`, { host: hostId });
  }
  if (/kex_exchange_identification|Connection closed by/i.test(all) && !log.hostKey) {
    return new ConnectionError(`cannot connect to ${l}: connection closed before the SSH handshake (is an SSH server listening there?)`, { host: hostId });
  }
  return new ConnectionError(`cannot connect to ${l}: ${log.messages.at(-1) ?? 'ssh exited before the connection was ready'}`, { host: hostId });
}
