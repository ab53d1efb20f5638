/**
 * Step 4 of connecting (connect.ts): client authentication, in ssh's order: the ssh-agent,
 * then each IdentityFile from ssh config (or the host's explicit `identity_file`), then the
 * default keys `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`. Implemented as an ssh2 `authHandler` that offers
 * one method at a time and records what it tried and skipped, so a failure can say why.
 *
 * Encrypted keys ask for their passphrase only when `interactive` (a TTY); otherwise they are
 * skipped with a reason. Decrypted keys are cached per process, and prompts are serialized, so a
 * fleet deploy asks once per key, not once per host.
 */
import { agentSigner, parsedKeySigner, type Signer } from './signer.js';
import { existsSync, readFileSync } from 'node:fs';
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

function publicBlobOf(file: string): Buffer | undefined {
  for (const f of [`${file}.pub`, file]) {
    try {
      const k = parse(readFileSync(f));
      if (!(k instanceof Error)) return k.getPublicSSH();
    } catch {
      /* missing or unreadable */
    }
  }
  return undefined;
}

/** An agent that only offers the keys named by IdentityFile (ssh's `IdentitiesOnly yes`). */
function filteredAgent(inner: BaseAgentType, allowed: Buffer[]): BaseAgentType {
  class Filtered extends BaseAgent {
    getIdentities(cb: (err: Error | undefined, keys?: ParsedKey[]) => void): void {
      inner.getIdentities((err, keys) => {
        if (err) return cb(err);
        cb(undefined, (keys ?? []).filter((k) => allowed.some((b) => b.equals((k as ParsedKey).getPublicSSH()))) as ParsedKey[]);
      });
    }
    sign(pubKey: ParsedKey | Buffer | string, data: Buffer, options: object | ((err?: Error, sig?: Buffer) => void), cb?: (err?: Error, sig?: Buffer) => void): void {
      (inner.sign as (...a: unknown[]) => void)(pubKey, data, options, cb);
    }
  }
  return new Filtered() as unknown as BaseAgentType;
}

/** An agent wrapper noting the key each signature is asked for: the last one is the key that logged in. */
function recordingAgent(inner: BaseAgentType, onSign: (pub: Buffer) => void): BaseAgentType {
  class Recording extends BaseAgent {
    /** the agent's socket when it is ssh2's own (unfiltered) agent, as ssh2's OpenSSHAgent names it */
    readonly socketPath = (inner as { socketPath?: string }).socketPath;
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

type Candidate = { kind: 'agent'; socket: string } | { kind: 'file'; file: string; explicit: boolean };

export class AuthPlan {
  /** one short entry per method tried or skipped, for the error message */
  readonly tried: string[] = [];
  readonly skipped: string[] = [];
  private readonly queue: Candidate[] = [];
  /** the method offered last: once the server accepts, the key the connection authenticated with */
  private last?: { kind: 'file'; key: ParsedKey } | { kind: 'agent'; socket: string; pub?: Buffer };

  /** a signer with the key that authenticated (valid once the connection is ready) */
  signer(): Signer | undefined {
    const l = this.last;
    if (!l) return undefined;
    if (l.kind === 'file') return parsedKeySigner(l.key);
    return l.pub ? agentSigner(l.socket, l.pub) : undefined;
  }

  constructor(private readonly o: AuthOptions) {
    const s = o.settings;
    const socket = s.identityAgent === 'none' ? undefined : (s.identityAgent ?? process.env.SSH_AUTH_SOCK);
    if (socket) this.queue.push({ kind: 'agent', socket });
    const files: Candidate[] = s.identityFiles.map((file) => ({ kind: 'file', file, explicit: true }));
    if (!s.identitiesOnly || s.identityFiles.length === 0) {
      for (const n of DEFAULT_KEY_NAMES) files.push({ kind: 'file', file: path.join(o.home, '.ssh', n), explicit: false });
    }
    const seen = new Set<string>();
    for (const f of files) {
      if (f.kind !== 'file' || seen.has(f.file)) continue;
      seen.add(f.file);
      this.queue.push(f);
    }
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
    for (;;) {
      const c = this.queue.shift();
      if (!c) return undefined;
      if (c.kind === 'agent') {
        if (!existsSync(c.socket)) {
          this.skipped.push(`ssh-agent (socket ${c.socket} does not exist)`);
          continue;
        }
        this.tried.push('ssh-agent');
        let agent: BaseAgentType = createAgent(c.socket);
        if (this.o.settings.identitiesOnly && this.o.settings.identityFiles.length) {
          const allowed = this.o.settings.identityFiles.map(publicBlobOf).filter((b): b is Buffer => !!b);
          agent = filteredAgent(agent, allowed);
        }
        const last = { kind: 'agent' as const, socket: c.socket, pub: undefined as Buffer | undefined };
        this.last = last;
        agent = recordingAgent(agent, (pub) => (last.pub = pub));
        return { type: 'agent', username, agent } as AnyAuthMethod;
      }
      const key = await this.loadKey(c.file, c.explicit);
      if (key) {
        this.tried.push(tilde(c.file, this.o.home));
        this.last = { kind: 'file', key };
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
    if (!this.o.interactive) {
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
