/** Key files read without a passphrase: OpenSSH's format keeps the public half in clear; certificates name their key. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { publicBlobOf, readCertificate } from '../../src/transport/ssh/key-files.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ee-keyfiles-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const keygen = (...args: string[]) => execFileSync('ssh-keygen', ['-q', ...args], { stdio: 'ignore' });
const blobOfPub = (file: string) => Buffer.from(readFileSync(file, 'utf8').split(/\s+/)[1], 'base64');

describe('key files', () => {
  keygen('-t', 'ed25519', '-N', '', '-f', path.join(dir, 'ca'));
  it.each([['ed25519'], ['ecdsa'], ['rsa']])('%s: public half of an encrypted key without .pub; its certificate names the same key', (type) => {
    const key = path.join(dir, `k_${type}`);
    keygen('-t', type, '-N', 'secret', '-f', key);
    keygen('-s', path.join(dir, 'ca'), '-I', `id-${type}`, '-n', 'deploy', `${key}.pub`);
    const want = blobOfPub(`${key}.pub`);
    const cert = readCertificate(`${key}-cert.pub`)!;
    expect(cert.type).toBe(`${type === 'rsa' ? 'ssh-rsa' : type === 'ecdsa' ? 'ecdsa-sha2-nistp256' : 'ssh-ed25519'}-cert-v01@openssh.com`);
    expect(cert.publicKey.equals(want)).toBe(true);
    expect(cert.blob.equals(blobOfPub(`${key}-cert.pub`))).toBe(true);
    unlinkSync(`${key}.pub`);
    expect(publicBlobOf(key)?.equals(want)).toBe(true);
  });
  it('not a certificate, or no file: undefined', () => {
    expect(readCertificate(path.join(dir, 'ca.pub'))).toBeUndefined();
    expect(readCertificate(path.join(dir, 'missing'))).toBeUndefined();
    expect(publicBlobOf(path.join(dir, 'missing'))).toBeUndefined();
  });
});
