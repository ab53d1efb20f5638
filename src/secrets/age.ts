/**
 * age encryption for the secrets file, through the `age-encryption` package (the reference
 * TypeScript implementation): X25519 recipients (`age1...`), ASCII-armored output so the file
 * diffs and commits as text; the stock `age -d` reads it.
 *
 * Identity: `EE_DEPLOY_AGE_IDENTITY` (an `AGE-SECRET-KEY-1...` key itself, or the path of an
 * identity file as `age-keygen` writes it), else `~/.config/ee-deploy/age.key`.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { armor, Decrypter, Encrypter, identityToRecipient } from 'age-encryption';
import { ConfigError } from '../errors.js';

const KEY_PREFIX = 'AGE-SECRET-KEY-1';
const RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/;

export interface AgeIdentity {
  keys: string[];
  /** where it came from, for messages (never the key itself) */
  source: string;
}

export function isRecipient(s: string): boolean {
  return RECIPIENT.test(s);
}

function home(): string {
  return process.env.HOME || os.homedir();
}

export function defaultIdentityFile(): string {
  return path.join(home(), '.config', 'ee-deploy', 'age.key');
}

/** The identity to decrypt with; a missing or malformed one is a one-line error (exit 2). */
export function loadIdentity(env: NodeJS.ProcessEnv = process.env): AgeIdentity {
  const given = env.EE_DEPLOY_AGE_IDENTITY?.trim();
  if (given && given.startsWith(KEY_PREFIX)) {
    const keys = given.split(/\s+/).filter(Boolean);
    if (keys.some((k) => !k.startsWith(KEY_PREFIX))) throw new ConfigError('EE_DEPLOY_AGE_IDENTITY: not an age identity (expected AGE-SECRET-KEY-1... or a file path)');
    return { keys, source: 'EE_DEPLOY_AGE_IDENTITY' };
  }
  const file = given ? path.resolve(given.replace(/^~(?=\/|$)/, home())) : defaultIdentityFile();
  const shown = given ? `EE_DEPLOY_AGE_IDENTITY file ${file}` : file;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ConfigError(`no age identity: ${shown} does not exist (set EE_DEPLOY_AGE_IDENTITY to a key or a key file, or create one with \`age-keygen -o ${defaultIdentityFile()}\`)`);
    throw new ConfigError(`cannot read the age identity ${shown}: ${code}`);
  }
  const keys: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    if (!line.startsWith(KEY_PREFIX)) throw new ConfigError(`${shown}:${i + 1}: not an age identity line (expected AGE-SECRET-KEY-1...)`);
    keys.push(line);
  });
  if (keys.length === 0) throw new ConfigError(`${shown}: holds no age identity`);
  return { keys, source: shown };
}

/** the public keys of an identity, for messages */
export async function identityRecipients(id: AgeIdentity): Promise<string[]> {
  const out: string[] = [];
  for (const k of id.keys) {
    try {
      out.push(await identityToRecipient(k));
    } catch {
      throw new ConfigError(`${id.source}: malformed age identity`);
    }
  }
  return out;
}

export async function encryptText(plaintext: string, recipients: string[]): Promise<string> {
  const e = new Encrypter();
  for (const r of recipients) e.addRecipient(r);
  return armor.encode(await e.encrypt(plaintext));
}

/** Decrypts an armored (or binary) age file; `file` names it in errors. */
export async function decryptText(data: Buffer, id: AgeIdentity, file: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = data.subarray(0, 40).toString('latin1').startsWith('-----BEGIN AGE ENCRYPTED FILE-----') ? armor.decode(data.toString('latin1')) : new Uint8Array(data);
  } catch (e) {
    throw new ConfigError(`${file}: not a valid age file (${(e as Error).message})`);
  }
  const d = new Decrypter();
  for (const k of id.keys) {
    try {
      d.addIdentity(k);
    } catch {
      throw new ConfigError(`${id.source}: malformed age identity`);
    }
  }
  try {
    return await d.decrypt(bytes, 'text');
  } catch (e) {
    const msg = (e as Error).message ?? String(e);
    if (/no identity matched/i.test(msg)) {
      const mine = await identityRecipients(id).catch(() => []);
      throw new ConfigError(`cannot decrypt ${file}: the identity from ${id.source} (${mine.join(', ') || 'unknown key'}) is not one of its recipients`);
    }
    throw new ConfigError(`cannot decrypt ${file}: ${msg.split('\n')[0]}`);
  }
}
