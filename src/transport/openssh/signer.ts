/**
 * The audit chain signs every history line with the key the connection authenticated with. With
 * the system `ssh` that key is named in the master's `-v` log ("Server accepts key: <file or
 * comment> <TYPE> SHA256:... [agent]"); this finds the same key where ee-deploy can sign with it:
 * in the ssh-agent ssh used (matched by fingerprint), else the key file itself when it is not
 * encrypted. A key ee-deploy cannot sign with (a FIDO or PKCS#11 token, an encrypted file that
 * is not in the agent) is refused at connect time with a ConnectionError naming it, before
 * anything is touched: history lines are never written unsigned.
 */
import { readFileSync } from 'node:fs';
import type { BaseAgent, ParsedKey } from 'ssh2';
import { ConnectionError } from '../../errors.js';
import { fingerprintSha256 } from '../ssh/known-hosts.js';
import { tilde } from '../ssh/ssh-config.js';
import { agentSigner, parsedKeySigner, type Signer } from '../ssh/signer.js';
import { createAgent, parseKey } from '../ssh/ssh2-lib.js';
import type { LoggedKey } from './diagnose.js';

/** key types whose agent and file signatures ee-deploy can wrap as SSHSIG (not `sk-*` tokens) */
const SIGNABLE = /^(ED25519|RSA|ECDSA)$/;

function agentKeys(socket: string): Promise<ParsedKey[]> {
  return new Promise((resolve) => {
    const agent = createAgent(socket) as BaseAgent;
    try {
      agent.getIdentities((err, keys) => resolve(err ? [] : ((keys ?? []) as ParsedKey[])));
    } catch {
      resolve([]);
    }
  });
}

function fileKey(file: string, fingerprint: string): ParsedKey | undefined {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch {
    return undefined;
  }
  const k = parseKey(data) as ParsedKey | ParsedKey[] | Error;
  const key = Array.isArray(k) ? k[0] : k;
  if (key instanceof Error || !key.isPrivateKey()) return undefined;
  return fingerprintSha256(key.getPublicSSH()) === fingerprint ? key : undefined;
}

export interface SignerLookup {
  accepted: LoggedKey | undefined;
  /** the agent ssh talks to: IdentityAgent from `ssh -G`, else $SSH_AUTH_SOCK */
  agentSocket?: string;
  home: string;
  label: string;
  hostId: string;
}

export async function signerFor(o: SignerLookup): Promise<Signer> {
  const k = o.accepted;
  if (!k) {
    throw new ConnectionError(`cannot sign history lines for ${o.label}: ssh did not say which key it logged in with (only public-key logins are supported with ssh_client: openssh)`, { host: o.hostId });
  }
  const what = `${k.agent ? 'ssh-agent key' : tilde(k.name, o.home)} (${k.type} ${k.fingerprint})`;
  if (!SIGNABLE.test(k.type) || k.token) {
    throw new ConnectionError(
      `cannot sign history lines for ${o.label} with ${what}: ee-deploy signs with ed25519, RSA and ECDSA keys from ssh-agent or an unencrypted key file; log in with such a key (IdentityFile)`,
      { host: o.hostId },
    );
  }
  if (o.agentSocket) {
    const hit = (await agentKeys(o.agentSocket)).find((a) => fingerprintSha256(a.getPublicSSH()) === k.fingerprint);
    if (hit) return agentSigner(o.agentSocket, hit.getPublicSSH());
  }
  const key = k.agent ? undefined : fileKey(k.name, k.fingerprint);
  if (key) return parsedKeySigner(key);
  throw new ConnectionError(`cannot sign history lines for ${o.label} with ${what}: it is neither in ssh-agent nor an unencrypted key file; load it into ssh-agent (ssh-add)`, { host: o.hostId });
}
