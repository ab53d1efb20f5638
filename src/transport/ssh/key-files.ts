/**
 * What a key file says without its passphrase: the public half of `IdentityFile` (from `<file>.pub`,
 * or from the private key file itself: OpenSSH's private key format stores the public key
 * unencrypted, which is how ssh matches an encrypted key against the agent's keys), and user
 * certificates (`CertificateFile`, `<file>-cert.pub`).
 */
import { readFileSync } from 'node:fs';
import type { ParsedKey } from 'ssh2';
import { keyTypeOfBlob } from './known-hosts.js';
import { parseKey } from './ssh2-lib.js';

function parse(data: Buffer | string): ParsedKey | undefined {
  const k = parseKey(data) as ParsedKey | ParsedKey[] | Error;
  if (k instanceof Error) return undefined;
  return Array.isArray(k) ? k[0] : k;
}

function readString(b: Buffer, off: number): { value: Buffer; next: number } | undefined {
  if (off + 4 > b.length) return undefined;
  const len = b.readUInt32BE(off);
  if (off + 4 + len > b.length) return undefined;
  return { value: b.subarray(off + 4, off + 4 + len), next: off + 4 + len };
}

const MAGIC = Buffer.from('openssh-key-v1\0');

/**
 * The public key blob stored in clear in an OpenSSH private key (`-----BEGIN OPENSSH PRIVATE
 * KEY-----`): magic, cipher, kdf, kdf options, key count, then the first public key.
 */
export function publicBlobFromOpenSshPrivate(text: string): Buffer | undefined {
  const m = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]+?)-----END OPENSSH PRIVATE KEY-----/.exec(text);
  if (!m) return undefined;
  const b = Buffer.from(m[1].replace(/\s+/g, ''), 'base64');
  if (b.length < MAGIC.length || !b.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  let off = MAGIC.length;
  for (let i = 0; i < 3; i++) {
    const s = readString(b, off);
    if (!s) return undefined;
    off = s.next;
  }
  if (off + 4 > b.length || b.readUInt32BE(off) < 1) return undefined;
  const pub = readString(b, off + 4);
  return pub && pub.value.length > 0 ? Buffer.from(pub.value) : undefined;
}

/** The public key blob of a key file without asking for a passphrase; undefined when unknowable. */
export function publicBlobOf(file: string): Buffer | undefined {
  try {
    const k = parse(readFileSync(`${file}.pub`));
    if (k) return k.getPublicSSH();
  } catch {
    /* no .pub beside it */
  }
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch {
    return undefined;
  }
  const k = parse(data);
  if (k) return k.getPublicSSH();
  return publicBlobFromOpenSshPrivate(data.toString('utf8'));
}

/** A FIDO security-key type (`sk-ssh-ed25519@openssh.com`, `sk-ecdsa-sha2-nistp256@openssh.com`). */
export function isSecurityKeyType(type: string): boolean {
  return type.startsWith('sk-');
}

/** The key type of a key file (from its public half), without a passphrase. */
export function keyFileType(file: string): string | undefined {
  const blob = publicBlobOf(file);
  if (blob) return keyTypeOfBlob(blob);
  // ssh2 cannot parse security keys: read the type from the .pub line itself
  try {
    return /^(\S+)\s/.exec(readFileSync(`${file}.pub`, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

export interface UserCertificate {
  file: string;
  /** e.g. `ssh-ed25519-cert-v01@openssh.com` */
  type: string;
  /** the certificate blob (what goes on the wire) */
  blob: Buffer;
  /** the certified public key blob (to find its private key) */
  publicKey: Buffer;
}

/** Read an OpenSSH user certificate (`<type>-cert-v01@openssh.com AAAA... comment`). */
export function readCertificate(file: string): UserCertificate | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const m = /^(\S+-cert-v01@openssh\.com)\s+([A-Za-z0-9+/=]+)/.exec(text.trim());
  if (!m) return undefined;
  const blob = Buffer.from(m[2], 'base64');
  if (keyTypeOfBlob(blob) !== m[1]) return undefined;
  // the certified key: the same type without the -cert suffix, with the key fields after the nonce
  const base = m[1].replace('-cert-v01@openssh.com', '');
  const publicKey = certifiedKey(blob, base);
  return publicKey ? { file, type: m[1], blob, publicKey } : undefined;
}

/** Rebuild the plain public key blob from a certificate's key fields (after type and nonce). */
function certifiedKey(blob: Buffer, base: string): Buffer | undefined {
  const fields = base === 'ssh-rsa' ? 2 : base.startsWith('ecdsa-') ? 2 : base === 'ssh-ed25519' ? 1 : base === 'ssh-dss' ? 4 : 0;
  if (!fields) return undefined;
  let off = 0;
  const parts: Buffer[] = [];
  for (let i = 0; i < 2 + fields; i++) {
    const s = readString(blob, off);
    if (!s) return undefined;
    if (i >= 2) parts.push(blob.subarray(off, s.next));
    off = s.next;
  }
  const type = Buffer.alloc(4 + base.length);
  type.writeUInt32BE(base.length);
  type.write(base, 4, 'latin1');
  // ssh-rsa certificates list e before n, as the plain key does
  return Buffer.concat([type, ...parts]);
}
