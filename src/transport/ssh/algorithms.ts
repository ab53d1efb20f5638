/**
 * `Ciphers`, `MACs`, `KexAlgorithms`, `HostKeyAlgorithms` and `PubkeyAcceptedAlgorithms` as ssh
 * reads them: `+list` appends to the defaults, `-list` removes (wildcards allowed), `^list` puts
 * first, a plain list (wildcards allowed) replaces them. The defaults are the built-in client's
 * (ssh2's). An algorithm ssh2 does not implement is refused by name rather than dropped: dropping
 * it would negotiate something other than what the user asked for.
 */
import { ConfigError } from '../../errors.js';
import { wildcardMatch } from './ssh-config-file.js';
// plain data: the algorithm names ssh2 implements and offers by default
import ssh2Constants from 'ssh2/lib/protocol/constants.js';

export interface AlgorithmChoice {
  kex?: string[];
  cipher?: string[];
  serverHostKey?: string[];
  hmac?: string[];
}

const TABLE: Record<string, { key: keyof AlgorithmChoice; defaults: string[]; supported: string[] }> = {
  kexalgorithms: { key: 'kex', defaults: ssh2Constants.DEFAULT_KEX, supported: ssh2Constants.SUPPORTED_KEX },
  ciphers: { key: 'cipher', defaults: ssh2Constants.DEFAULT_CIPHER, supported: ssh2Constants.SUPPORTED_CIPHER },
  macs: { key: 'hmac', defaults: ssh2Constants.DEFAULT_MAC, supported: ssh2Constants.SUPPORTED_MAC },
  hostkeyalgorithms: { key: 'serverHostKey', defaults: ssh2Constants.DEFAULT_SERVER_HOST_KEY, supported: ssh2Constants.SUPPORTED_SERVER_HOST_KEY },
};

/** key types and signature algorithms the built-in client logs in with (it always accepts all of them) */
const PUBKEY = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
const PUBKEY_ALL = [...PUBKEY, ...PUBKEY.map((a) => `${a}-cert-v01@openssh.com`), 'ssh-dss'];

const HINT = '; use `ssh_client: openssh` (the system ssh) for this host';

/**
 * The list a `+`/`-`/`^`/plain spec gives, from ssh2's defaults. `lenient` (a system-wide policy,
 * e.g. Fedora's crypto-policies file) keeps the algorithms ssh2 implements instead of refusing.
 */
export function assembleAlgorithms(keyword: string, spec: string, defaults: string[], supported: string[], at?: string, lenient = false): string[] {
  const op = /^[+\-^]/.test(spec) ? spec[0] : '';
  const names = (op ? spec.slice(1) : spec).split(',').filter(Boolean);
  const expand = (pattern: string): string[] => {
    const hits = supported.filter((a) => wildcardMatch(a, pattern));
    if (!hits.length && !lenient) throw new ConfigError(`${keyword}: the built-in SSH client does not implement ${pattern}${HINT}`, at);
    return hits;
  };
  if (op === '-') return defaults.filter((a) => !names.some((p) => wildcardMatch(a, p)));
  const listed = [...new Set(names.flatMap(expand))];
  if (op === '+') return [...defaults, ...listed.filter((a) => !defaults.includes(a))];
  if (op === '^') return [...listed, ...defaults.filter((a) => !listed.includes(a))];
  return listed;
}

export interface AlgorithmSpec {
  /** as written, e.g. `KexAlgorithms` */
  keyword: string;
  spec: string;
  /** file:line */
  at?: string;
  /** from the system-wide file: a distribution's policy, applied as far as ssh2 implements it */
  system?: boolean;
}

/** The algorithm lists set in ssh config, for ssh2's `algorithms`. */
export function algorithmChoice(given: AlgorithmSpec[]): AlgorithmChoice {
  const specs = new Map(given.map((g) => [g.keyword.toLowerCase(), g]));
  const out: AlgorithmChoice = {};
  for (const [k, t] of Object.entries(TABLE)) {
    const s = specs.get(k);
    if (!s) continue;
    const list = assembleAlgorithms(s.keyword, s.spec, t.defaults, t.supported, s.at, s.system);
    if (!list.length) throw new ConfigError(`${s.keyword} ${s.spec} leaves no algorithm`, s.at);
    out[t.key] = list;
  }
  const pk = specs.get('pubkeyacceptedalgorithms') ?? specs.get('pubkeyacceptedkeytypes');
  // the built-in client accepts every type it can sign with: only additions of those keep its behaviour
  if (pk && !pk.system && !(pk.spec.startsWith('+') && assembleAlgorithms(pk.keyword, pk.spec, [], PUBKEY_ALL, pk.at).length)) {
    throw new ConfigError(`${pk.keyword} ${pk.spec}: the built-in SSH client offers every key type it has (only \`+\` additions are followed)${HINT}`, pk.at);
  }
  return out;
}
