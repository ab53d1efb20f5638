/** Signers for SSHSIG: a private key file (ssh2's parser) or a key held by an ssh-agent. */
import { createAgent, parseKey } from '../transport/ssh/ssh2-lib.js';
import { derToSshEcdsa, keyType, type Signer } from './sshsig.js';

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
  const k = Array.isArray(parsed) ? parsed[0] : parsed;
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
