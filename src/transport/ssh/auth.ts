/**
 * Step 4 of connecting (connect.ts): client authentication, in ssh's order (sshconnect2.c
 * pubkey_prepare): certificates whose key the agent holds; the agent's keys matching an
 * IdentityFile (or the host's explicit `identity_file`) first, then its other keys unless
 * IdentitiesOnly; then each IdentityFile the agent does not hold, each preceded by its certificates
 * (CertificateFile, `<file>-cert.pub`). The default keys `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`
 * stand in when no IdentityFile is configured. An encrypted key's public half is read from its
 * file (key-files.ts), so the agent copy of it is found without the passphrase.
 * Implemented as an ssh2 `authHandler` that offers one method at a time and records what it
 * tried and skipped, so a failure can say why.
 *
 * Encrypted keys ask for their passphrase only when `interactive` (a TTY); otherwise they are
 * skipped with a reason. Decrypted keys are cached per process, and prompts are serialized, so a
 * fleet deploy asks once per key, not once per host.
 */
import { agentSigner, parsedKeySigner, type Signer } from './signer.js';
import { existsSync, readFileSync } from 'node:fs';
import { ConfigError } from '../../errors.js';
import { certificateKey } from './cert-auth.js';
import { isSecurityKeyType, keyFileType, publicBlobOf, readCertificate, type UserCertificate } from './key-files.js';
import path from 'node:path';
import type { AnyAuthMethod, AuthHandlerMiddleware, AuthenticationType, BaseAgent as BaseAgentType, ParsedKey } from 'ssh2';
import { tilde, type SshHostSettings } from './ssh-config.js';
import { BaseAgent, createAgent, parseKey } from './ssh2-lib.js';

/** Ask for a key's passphrase; resolve `undefined` to skip the key. */
export type PassphrasePrompt = (keyFile: string, attempt: number) => Promise<string | undefined>;

export interface AuthOptions {
  settings: SshHostSettings;
  interactive: boolean;
  onPassphrasePrompt?: PassphrasePrompt;
  home: string;
  /** called around a passphrase prompt so the connect timeout can pause */
  onPromptStart?: () => void;
  onPromptEnd?: () => void;
}

export const DEFAULT_KEY_NAMES = ['id_ed25519', 'id_ecdsa', 'id_rsa'];
const MAX_PASSPHRASE_ATTEMPTS = 3;

const decrypted = new Map<string, ParsedKey>();
let promptChain: Promise<unknown> = Promise.resolve();

/** Forget cached decrypted keys (tests). */
export function clearKeyCache(): void {
  decrypted.clear();
}

async function enquirerPrompt(keyFile: string, attempt: number): Promise<string | undefined> {
  const { default: Enquirer } = await import('enquirer');
  try {
    const answer = await Enquirer.prompt<{ passphrase: string }>({
      type: 'password',
      name: 'passphrase',
      message: attempt > 1 ? `Bad passphrase, try again for ${keyFile}` : `Enter passphrase for key '${keyFile}'`,
      // like ssh, never on stdout (stdout may carry --json)
      stdout: process.stderr,
    } as Parameters<typeof Enquirer.prompt>[0]);
    return answer.passphrase === '' ? undefined : answer.passphrase;
  } catch {
    return undefined; // cancelled (Ctrl-C / Esc): skip the key
  }
}

function parse(data: Buffer, passphrase?: string): ParsedKey | Error {
  const k = parseKey(data, passphrase) as ParsedKey | ParsedKey[] | Error;
  return Array.isArray(k) ? k[0] : k;
}

/** An agent offering exactly `keys`, in that order (ssh's order: keys named by IdentityFile first). */
function orderedAgent(inner: BaseAgentType, keys: ParsedKey[]): BaseAgentType {
  class Ordered extends BaseAgent {
    getIdentities(cb: (err: Error | undefined, keys?: ParsedKey[]) => void): void {
      cb(undefined, keys);
    }
    sign(pubKey: ParsedKey | Buffer | string, data: Buffer, options: object | ((err?: Error, sig?: Buffer) => void), cb?: (err?: Error, sig?: Buffer) => void): void {
      (inner.sign as (...a: unknown[]) => void)(pubKey, data, options, cb);
    }
  }
  return new Ordered() as unknown as BaseAgentType;
}

/** An agent wrapper noting the key each signature is asked for: the last one is the key that logged in. */
function recordingAgent(inner: BaseAgentType, onSign: (pub: Buffer) => void): BaseAgentType {
  class Recording extends BaseAgent {
    getIdentities(cb: (err: Error | undefined, keys?: ParsedKey[]) => void): void {
      inner.getIdentities(cb as never);
    }
    sign(pubKey: ParsedKey | Buffer | string, data: Buffer, options: object | ((err?: Error, sig?: Buffer) => void), cb?: (err?: Error, sig?: Buffer) => void): void {
      const blob = Buffer.isBuffer(pubKey) ? pubKey : typeof pubKey === 'string' ? undefined : pubKey.getPublicSSH();
      if (blob) onSign(blob);
      (inner.sign as (...a: unknown[]) => void)(pubKey, data, options, cb);
    }
  }
  return new Recording() as unknown as BaseAgentType;
}

function agentIdentities(socket: string): Promise<ParsedKey[]> {
  return new Promise((resolve, reject) => {
    createAgent(socket).getIdentities((err, keys) => (err ? reject(err) : resolve((keys ?? []) as ParsedKey[])));
  });
}

type Candidate =
  | { kind: 'agent'; socket: string; keys: ParsedKey[] }
  | { kind: 'cert'; cert: UserCertificate; keyFile?: string; agent?: { socket: string; key: ParsedKey } }
  | { kind: 'file'; file: string; explicit: boolean };

export class AuthPlan {
  /** one short entry per method tried or skipped, for the error message */
  readonly tried: string[] = [];
  readonly skipped: string[] = [];
  private queue?: Candidate[];
  /** the signer of the method offered last: once the server accepts, the key that logged in */
  private last?: () => Signer | undefined;
  private readonly socket?: string;
  private readonly files: { file: string; explicit: boolean }[] = [];

  /** a signer with the key that authenticated (valid once the connection is ready) */
  signer(): Signer | undefined {
    return this.last?.();
  }

  constructor(private readonly o: AuthOptions) {
    const s = o.settings;
    this.socket = s.identityAgent === 'none' ? undefined : (s.identityAgent ?? process.env.SSH_AUTH_SOCK);
    // as ssh: the default keys only when no IdentityFile is configured
    const files = s.identityFiles.length ? s.identityFiles.map((file) => ({ file, explicit: true })) : DEFAULT_KEY_NAMES.map((n) => ({ file: path.join(o.home, '.ssh', n), explicit: false }));
    for (const f of files) {
      if (this.files.some((x) => x.file === f.file)) continue;
      const type = f.explicit ? keyFileType(f.file) : undefined;
      if (type && isSecurityKeyType(type)) {
        throw new ConfigError(`IdentityFile ${tilde(f.file, o.home)} is a FIDO security key (${type}), which the built-in SSH client cannot use; use \`ssh_client: openssh\` (the system ssh) for this host`);
      }
      this.files.push(f);
    }
  }

  /** ssh's order (sshconnect2.c pubkey_prepare), once the agent's keys are known */
  private async prepare(): Promise<Candidate[]> {
    const s = this.o.settings;
    const queue: Candidate[] = [];
    let agentKeys: ParsedKey[] = [];
    if (this.socket) {
      if (!existsSync(this.socket)) this.skipped.push(`ssh-agent (socket ${this.socket} does not exist)`);
      else {
        try {
          agentKeys = await agentIdentities(this.socket);
        } catch (e) {
          this.skipped.push(`ssh-agent (${(e as Error).message})`);
        }
      }
    }
    const sk = agentKeys.filter((k) => isSecurityKeyType(k.type));
    if (sk.length) this.skipped.push(`${sk.length} FIDO security key(s) in ssh-agent (not supported by the built-in client)`);
    // an agent holding a key and its certificate lists the key twice to ssh2 (it reads a certificate as its key)
    agentKeys = agentKeys.filter((k, i) => !isSecurityKeyType(k.type) && agentKeys.findIndex((o) => o.getPublicSSH().equals(k.getPublicSSH())) === i);
    const fileBlobs = new Map(this.files.map((f) => [f.file, publicBlobOf(f.file)]));
    const certs: UserCertificate[] = [];
    for (const file of [...s.certificateFiles, ...this.files.map((f) => `${f.file}-cert.pub`)]) {
      const c = readCertificate(file);
      if (c && !certs.some((x) => x.blob.equals(c.blob))) certs.push(c);
      else if (!c && s.certificateFiles.includes(file)) this.skipped.push(`${tilde(file, this.o.home)} (not found or not a user certificate)`);
    }
    const inAgent = (blob: Buffer | undefined) => (blob ? agentKeys.find((k) => k.getPublicSSH().equals(blob)) : undefined);
    const wanted = [...fileBlobs.values(), ...certs.map((c) => c.publicKey)].filter((b): b is Buffer => !!b);
    const preferred = agentKeys.filter((k) => wanted.some((b) => b.equals(k.getPublicSSH())));
    const rest = s.identitiesOnly ? [] : agentKeys.filter((k) => !preferred.includes(k));
    const done = new Set<UserCertificate>();
    for (const c of certs) {
      const key = inAgent(c.publicKey);
      if (key && this.socket) {
        queue.push({ kind: 'cert', cert: c, agent: { socket: this.socket, key } });
        done.add(c);
      }
    }
    if (this.socket && preferred.length + rest.length) queue.push({ kind: 'agent', socket: this.socket, keys: [...preferred, ...rest] });
    else if (this.socket && agentKeys.length) this.skipped.push('ssh-agent (no key matching IdentityFile, and IdentitiesOnly yes)');
    for (const f of this.files) {
      const blob = fileBlobs.get(f.file);
      for (const c of certs) {
        if (done.has(c) || !blob || !c.publicKey.equals(blob)) continue;
        queue.push({ kind: 'cert', cert: c, keyFile: f.file });
        done.add(c);
      }
      if (!inAgent(blob)) queue.push({ kind: 'file', ...f });
    }
    for (const c of certs) if (!done.has(c)) this.skipped.push(`${tilde(c.file, this.o.home)} (no private key for it: not in ssh-agent, no IdentityFile)`);
    return queue;
  }

  /** One line: what was tried and what was skipped, and why. */
  summary(): string {
    const parts: string[] = [];
    if (this.tried.length) parts.push(`tried ${this.tried.join(', ')}`);
    if (this.skipped.length) parts.push(`skipped ${this.skipped.join('; ')}`);
    if (!this.tried.length && !this.skipped.length) {
      parts.push('no key to offer: no ssh-agent (SSH_AUTH_SOCK is unset), no IdentityFile, no ~/.ssh/id_ed25519, id_ecdsa or id_rsa');
    } else if (!this.tried.length) parts.unshift('no key could be offered');
    return parts.join('; ');
  }

  readonly handler: AuthHandlerMiddleware = (methodsLeft, _partial, next) => {
    if (methodsLeft && !methodsLeft.includes('publickey' as AuthenticationType)) {
      this.skipped.push(`all keys (server only allows ${methodsLeft.join(', ') || 'nothing'})`);
      next(false as unknown as AnyAuthMethod);
      return;
    }
    this.nextMethod().then(
      (m) => next((m ?? false) as AnyAuthMethod),
      () => next(false as unknown as AnyAuthMethod),
    );
  };

  private async nextMethod(): Promise<AnyAuthMethod | undefined> {
    const username = this.o.settings.user;
    this.queue ??= await this.prepare();
    for (;;) {
      const c = this.queue.shift();
      if (!c) return undefined;
      if (c.kind === 'agent') {
        this.tried.push(c.keys.length > 1 ? `ssh-agent (${c.keys.length} keys)` : 'ssh-agent');
        const pub: { blob?: Buffer } = {};
        const socket = c.socket;
        this.last = () => (pub.blob ? agentSigner(socket, pub.blob) : undefined);
        const agent = recordingAgent(orderedAgent(createAgent(socket), c.keys), (b) => (pub.blob = b));
        return { type: 'agent', username, agent } as AnyAuthMethod;
      }
      if (c.kind === 'cert') {
        let signer: Signer;
        let base: ParsedKey;
        if (c.agent) {
          signer = agentSigner(c.agent.socket, c.cert.publicKey);
          base = c.agent.key;
        } else {
          const k = await this.loadKey(c.keyFile!, true);
          if (!k) continue;
          signer = parsedKeySigner(k);
          base = k;
        }
        this.tried.push(`${tilde(c.cert.file, this.o.home)}${c.agent ? ' (key in ssh-agent)' : ''}`);
        this.last = () => signer;
        return { type: 'publickey', username, key: certificateKey(base, c.cert, signer) } as AnyAuthMethod;
      }
      const key = await this.loadKey(c.file, c.explicit);
      if (key) {
        this.tried.push(tilde(c.file, this.o.home));
        this.last = () => parsedKeySigner(key);
        return { type: 'publickey', username, key } as AnyAuthMethod;
      }
    }
  }

  private async loadKey(file: string, explicit: boolean): Promise<ParsedKey | undefined> {
    const shown = tilde(file, this.o.home);
    const cached = decrypted.get(file);
    if (cached) return cached;
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (explicit) this.skipped.push(`${shown} (${code === 'ENOENT' ? 'not found' : `cannot read: ${code ?? (e as Error).message}`})`);
      return undefined;
    }
    const k = parse(data);
    if (!(k instanceof Error)) {
      if (!k.isPrivateKey()) {
        this.skipped.push(`${shown} (not a private key)`);
        return undefined;
      }
      return k;
    }
    if (!/encrypted/i.test(k.message)) {
      this.skipped.push(`${shown} (unsupported or invalid key: ${k.message})`);
      return undefined;
    }
    if (!this.o.interactive || this.o.settings.batchMode) {
      this.skipped.push(`${shown} (encrypted, and there is no terminal to ask for its passphrase; load it into ssh-agent)`);
      return undefined;
    }
    // one prompt at a time across all connections; re-check the cache once it is our turn
    const run = promptChain.then(() => this.askPassphrase(file, shown, data));
    promptChain = run.catch(() => undefined);
    return run;
  }

  private async askPassphrase(file: string, shown: string, data: Buffer): Promise<ParsedKey | undefined> {
    const cached = decrypted.get(file);
    if (cached) return cached;
    const ask = this.o.onPassphrasePrompt ?? enquirerPrompt;
    this.o.onPromptStart?.();
    try {
      for (let attempt = 1; attempt <= MAX_PASSPHRASE_ATTEMPTS; attempt++) {
        const pass = await ask(file, attempt);
        if (pass === undefined) {
          this.skipped.push(`${shown} (encrypted; no passphrase given)`);
          return undefined;
        }
        const k = parse(data, pass);
        if (!(k instanceof Error) && k.isPrivateKey()) {
          decrypted.set(file, k);
          return k;
        }
      }
      this.skipped.push(`${shown} (encrypted; wrong passphrase ${MAX_PASSPHRASE_ATTEMPTS} times)`);
      return undefined;
    } finally {
      this.o.onPromptEnd?.();
    }
  }
}
