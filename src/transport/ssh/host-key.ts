/**
 * Step 3 of connecting: is the key the server offers during the handshake the one known_hosts
 * has for it? Unknown, changed or revoked keys are refused before any authentication, with a
 * message that says what to run if the key is right; StrictHostKeyChecking accept-new (or no)
 * records an unknown key instead. known-hosts.ts holds the file format and the matching.
 */
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { HostKeyError } from '../../errors.js';
import {
  checkHostKey,
  entriesFor,
  fingerprintSha256,
  formatKnownHostsLine,
  hashKnownHostsName,
  keyTypeOfBlob,
  lookupName,
  parseKnownHosts,
  preferredHostKeyAlgorithms,
  type KnownHostEntry,
} from './known-hosts.js';
import { homeDir, hostLabel, tilde, type Hop, type SshHostSettings } from './ssh-config.js';

export interface HostKeyCheck {
  /** host key algorithms to offer first: the types known_hosts has for this host */
  preferredAlgorithms: string[];
  /** the handshake's verdict on the offered key; when false, `failure` says why */
  verify: (key: Buffer) => boolean;
  failure?: HostKeyError;
}

/** a host key type as ssh shows it and as `ssh-keyscan -t` takes it (both clients' hints) */
export const SHORT_TYPE: Record<string, { display: string; scan: string }> = {
  'ssh-ed25519': { display: 'ED25519', scan: 'ed25519' },
  'ssh-rsa': { display: 'RSA', scan: 'rsa' },
  'ecdsa-sha2-nistp256': { display: 'ECDSA', scan: 'ecdsa' },
  'ecdsa-sha2-nistp384': { display: 'ECDSA', scan: 'ecdsa' },
  'ecdsa-sha2-nistp521': { display: 'ECDSA', scan: 'ecdsa' },
  'ssh-dss': { display: 'DSA', scan: 'dsa' },
};

/** Quote for a copy-pasteable shell line in a message (`~` left bare: a path the user's shell expands). */
export function sq(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./~-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function readKnownHosts(s: SshHostSettings): { entries: KnownHostEntry[]; userFile: string } {
  const entries: KnownHostEntry[] = [];
  for (const file of [...s.userKnownHostsFiles, ...s.globalKnownHostsFiles]) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    entries.push(...parseKnownHosts(text, file));
  }
  return { entries, userFile: s.userKnownHostsFiles[0] ?? path.join(homeDir(), '.ssh', 'known_hosts') };
}

function unknownHostMessage(hop: Hop, key: Buffer, otherTypes: string[], userFile: string, home: string): string {
  const s = hop.settings;
  const type = keyTypeOfBlob(key);
  const t = SHORT_TYPE[type] ?? { display: type, scan: type };
  const fp = fingerprintSha256(key);
  const file = sq(tilde(userFile, home));
  const portFlag = s.port === 22 ? '' : `-p ${s.port} `;
  const sshOnce = `ssh ${hop.via ? `-J ${sq(hop.via)} ` : ''}${portFlag}${sq(s.user)}@${sq(s.hostKeyAlias ? s.alias : s.hostName)}`;
  const trust =
    hop.via || s.hostKeyAlias
      ? `connect once with \`${sshOnce}\` and accept the key`
      : `run \`ssh-keyscan ${portFlag}-t ${t.scan} ${sq(s.hostName)} >> ${file}\` (or connect once with \`${sshOnce}\`)`;
  const other = otherTypes.length ? ` (known_hosts has only ${otherTypes.join(', ')} keys for it)` : '';
  return `host key of ${hostLabel(s)} is not known${other}: ${t.display} key ${fp}; if that is the server's key, ${trust}`;
}

function changedHostMessage(hop: Hop, key: Buffer, expected: KnownHostEntry[], home: string): string {
  const s = hop.settings;
  const fp = fingerprintSha256(key);
  const was = expected.map((e) => `${fingerprintSha256(e.key)} (${e.file ? tilde(e.file, home) : 'known_hosts'}:${e.line})`).join(', ');
  const name = lookupName({ host: s.hostName, port: s.port, ...(s.hostKeyAlias ? { hostKeyAlias: s.hostKeyAlias } : {}) });
  const file = expected[0]?.file ? ` -f ${sq(tilde(expected[0].file, home))}` : '';
  return (
    `host key of ${hostLabel(s)} has CHANGED (possible man-in-the-middle attack): server offers ${fp}, known_hosts has ${was}; ` +
    `if the change is expected, remove the old key with \`ssh-keygen${file} -R ${sq(name)}\``
  );
}

function appendKnownHost(file: string, name: string, key: Buffer, hashed: boolean): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const host = hashed ? hashKnownHostsName(name, randomBytes(20)) : name;
  appendFileSync(file, `${formatKnownHostsLine(host, key)}\n`, { mode: 0o600 });
}

/** Reads the hop's known_hosts files once and returns its host key check. */
export function hostKeyCheck(hop: Hop, hostId: string): HostKeyCheck {
  const s = hop.settings;
  const home = homeDir();
  const label = hostLabel(s);
  const known = readKnownHosts(s);
  const nameQuery = { host: s.hostName, port: s.port, ...(s.hostKeyAlias ? { hostKeyAlias: s.hostKeyAlias } : {}) };
  const knownTypes = [...new Set(entriesFor(known.entries, nameQuery).map((e) => e.keyType))];
  const check: HostKeyCheck = {
    preferredAlgorithms: preferredHostKeyAlgorithms(knownTypes),
    verify: (key) => {
      const r = checkHostKey(known.entries, { ...nameQuery, key });
      switch (r.status) {
        case 'known':
          return true;
        case 'revoked':
          check.failure = new HostKeyError(
            `host key of ${label} (${fingerprintSha256(key)}) is marked @revoked in ${r.entry.file ? tilde(r.entry.file, home) : 'known_hosts'}:${r.entry.line}; refusing to connect`,
            { host: hostId },
          );
          return false;
        case 'changed':
          check.failure = new HostKeyError(changedHostMessage(hop, key, r.expected, home), { host: hostId });
          return false;
        case 'unknown':
          if (s.strictHostKeyChecking === 'accept-new' || s.strictHostKeyChecking === 'no') {
            try {
              appendKnownHost(known.userFile, lookupName(nameQuery), key, s.hashKnownHosts);
            } catch (e) {
              check.failure = new HostKeyError(`cannot record the host key of ${label} in ${tilde(known.userFile, home)}: ${(e as Error).message}`, { host: hostId });
              return false;
            }
            return true;
          }
          check.failure = new HostKeyError(unknownHostMessage(hop, key, r.otherTypes, known.userFile, home), { host: hostId });
          return false;
      }
    },
  };
  return check;
}
