/**
 * Signers for SSH signatures (the audit chain's SSHSIG): the private key a connection
 * authenticated with, from a key file (ssh2's parser) or held by an ssh-agent.
 */
import type { ParsedKey } from 'ssh2';
import { createAgent, parseKey } from './ssh2-lib.js';

/** A signer: the public key blob (SSH wire format) and a function making an SSH signature blob. */
export interface Signer {
  publicKey: Buffer;
  /** returns the SSH signature blob: string(algorithm) || string(signature) */
  sign(data: Buffer): Promise<Buffer>;
}

function str(b: Buffer, off: number): { value: Buffer; next: number } {
  const len = b.readUInt32BE(off);
  return { value: b.subarray(off + 4, off + 4 + len), next: off + 4 + len };
}

export function keyType(publicKey: Buffer): string {
  return str(publicKey, 0).value.toString();
}

/** ECDSA signatures come from node/ssh2 as DER; SSH wants mpint(r) || mpint(s) */
export function derToSshEcdsa(der: Buffer): Buffer {
  let off = 2 + (der[1] & 0x80 ? der[1] & 0x7f : 0);
  const ints: Buffer[] = [];
  for (let i = 0; i < 2; i++) {
    if (der[off] !== 0x02) throw new Error('bad DER signature');
    const len = der[off + 1];
    ints.push(der.subarray(off + 2, off + 2 + len));
    off += 2 + len;
  }
  return Buffer.concat(ints.map((x) => blob1(x)));
}

function blob1(x: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(x.length);
  return Buffer.concat([len, x]);
}

function blob(algorithm: string, sig: Buffer): Buffer {
  const a = Buffer.from(algorithm);
  const out = Buffer.alloc(8 + a.length + sig.length);
  out.writeUInt32BE(a.length, 0);
  a.copy(out, 4);
  out.writeUInt32BE(sig.length, 4 + a.length);
  sig.copy(out, 8 + a.length);
  return out;
}

/** how the raw signature of a key type becomes an SSH signature blob */
function wrap(type: string, raw: Buffer, fromAgent: boolean): Buffer {
  if (type === 'ssh-rsa') return blob('rsa-sha2-512', raw);
  if (type.startsWith('ecdsa-sha2-')) return blob(type, fromAgent ? raw : derToSshEcdsa(raw));
  return blob(type, raw);
}

export function keyFileSigner(key: string | Buffer, passphrase?: string): Signer {
  const parsed = parseKey(key, passphrase);
  if (parsed instanceof Error) throw new Error(`cannot read the key: ${parsed.message}`);
  return parsedKeySigner(Array.isArray(parsed) ? parsed[0] : parsed);
}

/** a private key already parsed (and decrypted) by ssh2 */
export function parsedKeySigner(k: ParsedKey): Signer {
  const publicKey = k.getPublicSSH();
  const type = keyType(publicKey);
  return {
    publicKey,
    sign: async (data) => {
      const sig = k.sign(data, type === 'ssh-rsa' ? 'sha512' : undefined);
      if (sig instanceof Error) throw sig;
      return wrap(type, sig, false);
    },
  };
}

/** the agent's key `publicKey` (wire format) signs; RSA keys sign with rsa-sha2-512 */
export function agentSigner(socket: string, publicKey: Buffer): Signer {
  const agent = createAgent(socket);
  const type = keyType(publicKey);
  return {
    publicKey,
    sign: (data) =>
      new Promise((resolve, reject) => {
        agent.sign(publicKey, data, type === 'ssh-rsa' ? { hash: 'sha512' } : {}, (err, sig) => (err || !sig ? reject(err ?? new Error('agent refused to sign')) : resolve(wrap(type, sig, true))));
      }),
  };
}
