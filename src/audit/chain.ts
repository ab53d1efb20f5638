/**
 * The audit chain of a history file: every line carries `prev` (SHA-256 hex of the previous
 * line's bytes, without its newline; "" for the first) and `sig`, an SSHSIG (namespace
 * `ee-deploy`) over the line's JSON text with the `sig` member removed. The line is that JSON
 * text with `,"sig":"..."` added as its last member, so the signed bytes are recovered exactly
 * by cutting that member off again (`ssh-keygen -Y verify -n ee-deploy` checks them).
 */
import { createHash } from 'node:crypto';
import { fingerprint, sshsign, sshverify, type Signer } from './sshsig.js';

export const NAMESPACE = 'ee-deploy';

export function lineHash(line: string): string {
  return createHash('sha256').update(line).digest('hex');
}

/** the signed history line for `record` (any JSON object), following `prevLine` ("" for the first) */
export async function signedHistoryLine(record: Record<string, unknown>, prevLine: string, signer: Signer): Promise<string> {
  const { sig: _drop, prev: _prev, ...rest } = record;
  void _drop;
  void _prev;
  const unsigned = JSON.stringify({ ...rest, prev: prevLine ? lineHash(prevLine) : '' });
  const sig = await sshsign(unsigned, NAMESPACE, signer);
  return `${unsigned.slice(0, -1)},"sig":${JSON.stringify(sig)}}`;
}

/** the bytes a line's `sig` covers, and the signature, or why the line has none */
export function splitSigned(line: string): { unsigned: string; sig: string } | string {
  const at = line.lastIndexOf(',"sig":"');
  if (at < 0 || !line.endsWith('"}')) return 'not signed';
  let sig: unknown;
  try {
    sig = JSON.parse(line.slice(at + 7, -1));
  } catch {
    return 'malformed sig member';
  }
  if (typeof sig !== 'string') return 'malformed sig member';
  return { unsigned: `${line.slice(0, at)}}`, sig };
}

export interface AllowedSigner {
  principals: string[];
  /** the key blob (wire format) */
  key: Buffer;
  namespaces?: string[];
}

/** git's / ssh-keygen's allowed_signers: `principals [options] keytype base64 [comment]` */
export function parseAllowedSigners(text: string): AllowedSigner[] {
  const out: AllowedSigner[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const tokens = line.match(/(?:[^\s"]+|"[^"]*")+/g) ?? [];
    if (!tokens[0]) continue;
    const principals = tokens[0].replace(/"/g, '').split(',');
    let i = 1;
    let namespaces: string[] | undefined;
    if (tokens[i] && !/^(ssh-|ecdsa-|sk-)/.test(tokens[i])) {
      const ns = /(?:^|,)namespaces="([^"]*)"/.exec(tokens[i]);
      if (ns) namespaces = ns[1].split(',');
      i++;
    }
    const b64 = tokens[i + 1];
    if (!tokens[i] || !b64) continue;
    out.push({ principals, key: Buffer.from(b64, 'base64'), namespaces });
  }
  return out;
}

export interface ChainProblem {
  /** 1-based line number of the first bad line */
  line: number;
  reason: string;
}

export interface ChainResult {
  lines: number;
  problem?: ChainProblem;
  /** principals of the keys that signed, in order of first use */
  signers: string[];
}

/**
 * Checks a whole history text; stops at the first bad line. `trusted` lines at the start were
 * verified before (the caller checked that the last of them is byte-for-byte the line it
 * verified): their signatures are not checked again, only the hash links, which tie every
 * earlier line to that one.
 */
export function verifyChain(text: string, allowed: AllowedSigner[], trusted = 0): ChainResult {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const signers: string[] = [];
  let prev = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const bad = (reason: string): ChainResult => ({ lines: lines.length, problem: { line: i + 1, reason }, signers });
    // the writer puts `prev` right before `sig`; everything else in the line is covered by the signature
    const m = /,"prev":"([0-9a-f]{64}|)","sig":"-----BEGIN SSH SIGNATURE-----/.exec(line.slice(Math.max(0, line.lastIndexOf(',"prev":"'))));
    let prevField: string | undefined = m?.[1];
    if (prevField === undefined) {
      let obj: { prev?: unknown };
      try {
        obj = JSON.parse(line) as { prev?: unknown };
      } catch {
        return bad('not a JSON line (edited or torn)');
      }
      prevField = typeof obj.prev === 'string' ? obj.prev : undefined;
      if (prevField === undefined) return bad(obj.prev === undefined ? 'no prev (not part of the chain)' : 'malformed prev');
    }
    const want = i === 0 ? '' : lineHash(prev);
    if (prevField !== want) return bad(i === 0 ? 'the first line names a predecessor: lines before it were deleted' : `prev does not match line ${i} (a line was edited, inserted, deleted or moved)`);
    if (i < trusted - 1) {
      prev = line;
      continue;
    }
    const split = splitSigned(line);
    if (typeof split === 'string') return bad(split);
    let key: Buffer;
    try {
      key = sshverify(split.unsigned, NAMESPACE, split.sig);
    } catch (e) {
      return bad(`bad signature (${(e as Error).message}): the line was changed after it was signed`);
    }
    const who = allowed.find((a) => a.key.equals(key) && (!a.namespaces || a.namespaces.includes(NAMESPACE)));
    if (!who) return bad(`signed by a key not in allowed_signers (${fingerprint(key)})`);
    for (const p of who.principals) if (!signers.includes(p)) signers.push(p);
    prev = line;
  }
  return { lines: lines.length, signers };
}
