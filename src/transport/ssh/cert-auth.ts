/**
 * User certificates (`CertificateFile`, `<IdentityFile>-cert.pub`) for ssh2, which does not know
 * them: a certificate logs in as `publickey` with the certificate blob and the certificate's
 * algorithm name (`ssh-ed25519-cert-v01@openssh.com`), but the signature inside is named after
 * the plain key (`ssh-ed25519`), and ssh2 writes one name for both. So ssh2's `authPK` is
 * wrapped: for a key made by `certificateKey` it writes that request itself (same packet layout,
 * RFC 4252 section 7) and signs through our Signer (a key file or the agent); every other key goes
 * to ssh2 unchanged.
 */
import type { ParsedKey } from 'ssh2';
import Protocol from 'ssh2/lib/protocol/Protocol.js';
import { sendPacket } from 'ssh2/lib/protocol/utils.js';
import type { UserCertificate } from './key-files.js';
import type { Signer } from './signer.js';

const CERT = Symbol('ee-deploy user certificate');
const USERAUTH_REQUEST = 50;

interface CertInfo {
  algorithm: string;
  blob: Buffer;
  signer: Signer;
}

/** The request algorithm for a certificate; RSA signs with SHA-512 (our Signer's choice). */
function certAlgorithm(type: string): string {
  return type === 'ssh-rsa-cert-v01@openssh.com' ? 'rsa-sha2-512-cert-v01@openssh.com' : type;
}

/**
 * A key object ssh2 accepts as a `publickey` method (it inherits ssh2's parsed key `base`, the
 * certified key) but that logs in with the certificate.
 */
export function certificateKey(base: ParsedKey, cert: UserCertificate, signer: Signer): ParsedKey {
  installCertAuth();
  const k = Object.create(base) as ParsedKey & { [CERT]: CertInfo };
  Object.defineProperties(k, {
    type: { value: cert.type },
    getPublicSSH: { value: () => cert.blob },
    isPrivateKey: { value: () => true },
    [CERT]: { value: { algorithm: certAlgorithm(cert.type), blob: cert.blob, signer } satisfies CertInfo },
  });
  return k;
}

function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s) : s;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

interface ProtocolInternals {
  _kex: { sessionID: Buffer };
  _packetRW: { write: { alloc(n: number): Buffer; allocStart: number; finalize(p: Buffer): Buffer } };
  _authsQueue: string[];
  _debug?: (s: string) => void;
}

function send(proto: ProtocolInternals, payload: Buffer): void {
  const packet = proto._packetRW.write.alloc(payload.length);
  payload.copy(packet, proto._packetRW.write.allocStart);
  proto._authsQueue.push('publickey');
  sendPacket(proto, proto._packetRW.write.finalize(packet));
}

let installed = false;

function installCertAuth(): void {
  if (installed) return;
  installed = true;
  const original = Protocol.prototype.authPK as (this: unknown, ...args: unknown[]) => void;
  Protocol.prototype.authPK = function (this: ProtocolInternals, username: string, pubKey: unknown, keyAlgo: unknown, cbSign: unknown) {
    const info = (pubKey as { [CERT]?: CertInfo } | null)?.[CERT];
    if (!info) return original.call(this, username, pubKey, keyAlgo, cbSign);
    const signing = typeof keyAlgo === 'function' || typeof cbSign === 'function';
    const head = Buffer.concat([Buffer.from([USERAUTH_REQUEST]), str(username), str('ssh-connection'), str('publickey'), Buffer.from([signing ? 1 : 0]), str(info.algorithm), str(info.blob)]);
    if (!signing) {
      this._debug?.('Outbound: Sending USERAUTH_REQUEST (publickey certificate -- check)');
      send(this, head);
      return;
    }
    info.signer.sign(Buffer.concat([str(this._kex.sessionID), head])).then(
      (signature) => {
        this._debug?.('Outbound: Sending USERAUTH_REQUEST (publickey certificate)');
        send(this, Buffer.concat([head, str(signature)]));
      },
      (e: Error) => {
        // an empty signature fails this key at the server, and authentication goes on with the next
        this._debug?.(`certificate signature failed: ${e.message}`);
        send(this, Buffer.concat([head, str(Buffer.alloc(0))]));
      },
    );
  };
}
