/**
 * OpenSSH known_hosts, read-only and pure: parse the text, find the entries for a host, and decide
 * whether a presented host key is known, unknown, changed or revoked — the same answers `ssh`
 * gives with `StrictHostKeyChecking yes` (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT").
 *
 * - lookup name: `host` on port 22, `[host]:port` otherwise; `HostKeyAlias` replaces it as is
 * - host fields: comma lists, `*`/`?` wildcards, `!negation`, hashed `|1|base64(salt)|base64(hmac-sha1)`
 * - markers: `@revoked` (that key is refused for the hosts it names), `@cert-authority` (ignored:
 *   host certificates are not supported, so such lines neither accept nor refuse a key)
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { wildcardMatch } from './ssh-config-file.js';

export interface KnownHostEntry {
  marker?: 'revoked' | 'cert-authority';
  /** the host field as written (a comma list, or one hashed `|1|...|...` token) */
  hosts: string;
  /** `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, ... */
  keyType: string;
  /** the public key blob (SSH wire format), i.e. base64-decoded second field */
  key: Buffer;
  /** where the entry came from, for messages */
  file?: string;
  line: number;
}

/** `SHA256:...` exactly as `ssh` / `ssh-keygen -l` print it (unpadded base64 of sha256 of the blob). */
export function fingerprintSha256(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** The key type name embedded at the start of a public key blob (`string type, ...`). */
export function keyTypeOfBlob(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return 'unknown';
  const len = keyBlob.readUInt32BE(0);
  if (len <= 0 || len > 64 || keyBlob.length < 4 + len) return 'unknown';
  return keyBlob.subarray(4, 4 + len).toString('latin1');
}

/** The name known_hosts uses for a host: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port = 22): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

const MARKERS: Record<string, KnownHostEntry['marker']> = {
  '@revoked': 'revoked',
  '@cert-authority': 'cert-authority',
};

/** Parse known_hosts text; malformed lines are skipped, as ssh does. */
export function parseKnownHosts(text: string, file?: string): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const trimmed = lines[i].trim();
    if (!trimmed || trimmed.startsWith('#')) continue;
    const fields = trimmed.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0].startsWith('@')) {
      marker = MARKERS[fields[0].toLowerCase()];
      if (!marker) continue; // unknown marker: ssh ignores the line
      fields.shift();
    }
    if (fields.length < 3) continue;
    const [hosts, keyType, b64] = fields;
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) continue;
    const key = Buffer.from(b64, 'base64');
    if (key.length === 0) continue;
    // the type field must agree with the blob; a mismatch is a corrupt line
    if (keyTypeOfBlob(key) !== keyType) continue;
    out.push({ ...(marker ? { marker } : {}), hosts, keyType, key, ...(file !== undefined ? { file } : {}), line: i + 1 });
  }
  return out;
}

function hashedMatches(token: string, name: string): boolean {
  // |1|base64(salt)|base64(HMAC-SHA1(salt, name))
  const parts = token.split('|');
  if (parts.length !== 4 || parts[0] !== '' || parts[1] !== '1') return false;
  const salt = Buffer.from(parts[2], 'base64');
  const want = Buffer.from(parts[3], 'base64');
  if (salt.length === 0 || want.length !== 20) return false;
  const got = createHmac('sha1', salt).update(name).digest();
  return timingSafeEqual(got, want);
}

/** Does an entry's host field name `name` (already in known_hosts form, e.g. `[h]:2222`)? */
export function entryMatchesName(entry: Pick<KnownHostEntry, 'hosts'>, name: string): boolean {
  const lname = name.toLowerCase();
  if (entry.hosts.startsWith('|')) return hashedMatches(entry.hosts, lname);
  let matched = false;
  for (const raw of entry.hosts.split(',')) {
    if (!raw) continue;
    const negated = raw.startsWith('!');
    const pattern = (negated ? raw.slice(1) : raw).toLowerCase();
    if (wildcardMatch(lname, pattern)) {
      if (negated) return false; // a negated match wins over everything
      matched = true;
    }
  }
  return matched;
}

export type HostKeyStatus =
  /** a known_hosts line for this host holds exactly this key */
  | { status: 'known'; entry: KnownHostEntry }
  /** nothing for this host (keys of other types may be listed in `otherTypes`) */
  | { status: 'unknown'; otherTypes: string[] }
  /** this host is listed with a different key of the same type: possible man-in-the-middle */
  | { status: 'changed'; expected: KnownHostEntry[] }
  /** this key is marked `@revoked` */
  | { status: 'revoked'; entry: KnownHostEntry };

export interface HostKeyQuery {
  /** host name as connected to (after ssh config's HostName) */
  host: string;
  port?: number;
  /** ssh config `HostKeyAlias`: looked up instead of host/port, as written */
  hostKeyAlias?: string;
  /** the presented host key blob */
  key: Buffer;
}

/** The name to look up: HostKeyAlias, or `host` / `[host]:port`. */
export function lookupName(q: Pick<HostKeyQuery, 'host' | 'port' | 'hostKeyAlias'>): string {
  return q.hostKeyAlias ? q.hostKeyAlias : knownHostsName(q.host, q.port ?? 22);
}

/** Entries (not @revoked, not @cert-authority) that name this host. */
export function entriesFor(entries: KnownHostEntry[], q: Pick<HostKeyQuery, 'host' | 'port' | 'hostKeyAlias'>): KnownHostEntry[] {
  const name = lookupName(q);
  return entries.filter((e) => !e.marker && entryMatchesName(e, name));
}

/** Decide about a presented host key, like ssh's check_host_key with strict checking. */
export function checkHostKey(entries: KnownHostEntry[], q: HostKeyQuery): HostKeyStatus {
  const name = lookupName(q);
  const type = keyTypeOfBlob(q.key);
  for (const e of entries) {
    if (e.marker === 'revoked' && e.key.equals(q.key) && entryMatchesName(e, name)) return { status: 'revoked', entry: e };
  }
  const mine = entries.filter((e) => !e.marker && entryMatchesName(e, name));
  const exact = mine.find((e) => e.key.equals(q.key));
  if (exact) return { status: 'known', entry: exact };
  // compare the blob's key type (an `ssh-rsa` line covers rsa-sha2-512 signatures too)
  const sameType = mine.filter((e) => e.keyType === type);
  if (sameType.length > 0) return { status: 'changed', expected: sameType };
  return { status: 'unknown', otherTypes: [...new Set(mine.map((e) => e.keyType))] };
}

/** A plain known_hosts line for a key (what `ssh-keyscan` prints). */
export function formatKnownHostsLine(name: string, keyBlob: Buffer): string {
  return `${name} ${keyTypeOfBlob(keyBlob)} ${keyBlob.toString('base64')}`;
}

/** A hashed host field `|1|salt|hmac` for `name` (what `ssh-keygen -H` writes). */
export function hashKnownHostsName(name: string, salt: Buffer): string {
  const mac = createHmac('sha1', salt).update(name.toLowerCase()).digest();
  return `|1|${salt.toString('base64')}|${mac.toString('base64')}`;
}

/**
 * Host key algorithms to offer so the server presents a key type we already know (ssh does the
 * same: otherwise a host known by its ed25519 key could show an ecdsa one and look "unknown").
 */
export function preferredHostKeyAlgorithms(knownTypes: string[]): string[] {
  const out: string[] = [];
  for (const t of knownTypes) {
    const algos = t === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [t];
    for (const a of algos) if (!out.includes(a)) out.push(a);
  }
  return out;
}
