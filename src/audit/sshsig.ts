/**
 * SSH signatures in OpenSSH's SSHSIG format (PROTOCOL.sshsig), as `ssh-keygen -Y sign` makes and
 * `ssh-keygen -Y verify` checks them: the message is hashed with SHA-512, the key signs
 * "SSHSIG" || string(namespace) || string("") || string("sha512") || string(hash), and the result is
 * armored between BEGIN/END SSH SIGNATURE lines. Keys: Ed25519, RSA (rsa-sha2-512) and ECDSA, from
 * a key file (ssh2's parser) or an ssh-agent.
 */
import { createHash, createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { keyType, type Signer } from '../transport/ssh/signer.js';

export type { Signer };

const MAGIC = Buffer.from('SSHSIG');
const HASH = 'sha512';

function sshString(b: Buffer | string): Buffer {
  const data = typeof b === 'string' ? Buffer.from(b) : b;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  return Buffer.concat([len, data]);
}

class Reader {
  private off = 0;
  constructor(private readonly buf: Buffer) {}
  bytes(n: number): Buffer {
    if (this.off + n > this.buf.length) throw new Error('truncated');
    const out = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return out;
  }
  u32(): number {
    return this.bytes(4).readUInt32BE(0);
  }
  string(): Buffer {
    return this.bytes(this.u32());
  }
  get done(): boolean {
    return this.off === this.buf.length;
  }
}

/** what the key signs for `message` in `namespace` */
export function signedData(message: Buffer | string, namespace: string): Buffer {
  const h = createHash(HASH).update(message).digest();
  return Buffer.concat([MAGIC, sshString(namespace), sshString(''), sshString(HASH), sshString(h)]);
}

export function armor(blob: Buffer): string {
  const b64 = blob.toString('base64');
  const lines = b64.match(/.{1,70}/g) ?? [];
  return `-----BEGIN SSH SIGNATURE-----\n${lines.join('\n')}\n-----END SSH SIGNATURE-----`;
}

export function dearmor(text: string): Buffer {
  const m = /^-----BEGIN SSH SIGNATURE-----\n([A-Za-z0-9+/=\n]+)\n-----END SSH SIGNATURE-----\n?$/.exec(text);
  if (!m) throw new Error('not an armored SSH signature');
  return Buffer.from(m[1].replace(/\n/g, ''), 'base64');
}

export async function sshsign(message: Buffer | string, namespace: string, signer: Signer): Promise<string> {
  const sig = await signer.sign(signedData(message, namespace));
  const blob = Buffer.concat([MAGIC, Buffer.from([0, 0, 0, 1]), sshString(signer.publicKey), sshString(namespace), sshString(''), sshString(HASH), sshString(sig)]);
  return armor(blob);
}

export interface ParsedSignature {
  publicKey: Buffer;
  namespace: string;
  hash: string;
  algorithm: string;
  signature: Buffer;
}

export function parseSignature(armored: string): ParsedSignature {
  const r = new Reader(dearmor(armored));
  if (!r.bytes(6).equals(MAGIC)) throw new Error('not an SSHSIG signature');
  if (r.u32() !== 1) throw new Error('unsupported SSHSIG version');
  const publicKey = r.string();
  const namespace = r.string().toString();
  r.string(); // reserved
  const hash = r.string().toString();
  const sr = new Reader(r.string());
  const algorithm = sr.string().toString();
  const signature = sr.string();
  return { publicKey, namespace, hash, algorithm, signature };
}

const keyObjects = new Map<string, ReturnType<typeof createPublicKey>>();

/** an SSH public key blob as a node KeyObject, converted once per key (a history has few signers) */
function keyObject(blob: Buffer) {
  const id = blob.toString('base64');
  let k = keyObjects.get(id);
  if (!k) {
    k = toKeyObject(blob);
    keyObjects.set(id, k);
  }
  return k;
}

/** an SSH public key blob as a node KeyObject (Ed25519, RSA, ECDSA P-256/384/521) */
function toKeyObject(blob: Buffer) {
  const r = new Reader(blob);
  const type = r.string().toString();
  if (type === 'ssh-ed25519') {
    const pub = r.string();
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: pub.toString('base64url') }, format: 'jwk' });
  }
  if (type === 'ssh-rsa') {
    const e = r.string();
    const n = r.string();
    const strip = (b: Buffer) => (b[0] === 0 ? b.subarray(1) : b);
    return createPublicKey({ key: { kty: 'RSA', n: strip(n).toString('base64url'), e: strip(e).toString('base64url') }, format: 'jwk' });
  }
  const m = /^ecdsa-sha2-nistp(256|384|521)$/.exec(type);
  if (m) {
    r.string(); // curve name
    const q = r.string();
    const size = (q.length - 1) / 2;
    return createPublicKey({ key: { kty: 'EC', crv: `P-${m[1]}`, x: q.subarray(1, 1 + size).toString('base64url'), y: q.subarray(1 + size).toString('base64url') }, format: 'jwk' });
  }
  throw new Error(`unsupported key type ${type}`);
}

function ecdsaSshToDer(sig: Buffer): Buffer {
  const r = new Reader(sig);
  const enc = (x: Buffer) => {
    let v = x;
    while (v.length > 1 && v[0] === 0 && !(v[1] & 0x80)) v = v.subarray(1);
    if (v[0] & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
    return Buffer.concat([Buffer.from([0x02, v.length]), v]);
  };
  const body = Buffer.concat([enc(r.string()), enc(r.string())]);
  return Buffer.concat([Buffer.from([0x30]), body.length < 128 ? Buffer.from([body.length]) : Buffer.from([0x81, body.length]), body]);
}

/** checks an armored SSHSIG over `message` in `namespace`; returns the signing key blob, or throws */
export function sshverify(message: Buffer | string, namespace: string, armored: string): Buffer {
  const s = parseSignature(armored);
  if (s.namespace !== namespace) throw new Error(`signature namespace is "${s.namespace}", not "${namespace}"`);
  if (s.hash !== 'sha512' && s.hash !== 'sha256') throw new Error(`unsupported hash ${s.hash}`);
  const h = createHash(s.hash).update(message).digest();
  const data = Buffer.concat([MAGIC, sshString(namespace), sshString(''), sshString(s.hash), sshString(h)]);
  const key = keyObject(s.publicKey);
  const type = keyType(s.publicKey);
  let ok: boolean;
  if (type === 'ssh-ed25519') ok = s.algorithm === 'ssh-ed25519' && cryptoVerify(null, data, key, s.signature);
  else if (type === 'ssh-rsa') ok = (s.algorithm === 'rsa-sha2-512' || s.algorithm === 'rsa-sha2-256') && cryptoVerify(s.algorithm === 'rsa-sha2-512' ? 'sha512' : 'sha256', data, key, s.signature);
  else {
    const bits = /nistp(\d+)$/.exec(type)![1];
    ok = s.algorithm === type && cryptoVerify(bits === '256' ? 'sha256' : bits === '384' ? 'sha384' : 'sha512', data, key, ecdsaSshToDer(s.signature));
  }
  if (!ok) throw new Error('bad signature');
  return s.publicKey;
}

/** `SHA256:...` as OpenSSH prints a key fingerprint */
export function fingerprint(publicKey: Buffer): string {
  return `SHA256:${createHash('sha256').update(publicKey).digest('base64').replace(/=+$/, '')}`;
}
