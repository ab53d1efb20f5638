/**
 * SSHSIG and the audit chain: signatures this code makes are accepted by the real
 * `ssh-keygen -Y verify -n ee-deploy` (Ed25519, RSA, ECDSA key files), signatures ssh-keygen
 * makes are accepted here; and a property test: every random single edit, deletion, swap or
 * insertion of a generated signed history is detected and named at the right line.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { lineHash, parseAllowedSigners, signedHistoryLine, splitSigned, verifyChain } from '../../src/audit/chain.js';
import { agentSigner, keyFileSigner } from '../../src/transport/ssh/signer.js';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { sshsign, sshverify } from '../../src/audit/sshsig.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-audit-'));

let n = 0;
function keygen(type: string, bits?: string): { file: string; pub: string } {
  const file = path.join(tmp, `k${n++}_${type}${bits ?? ''}`);
  execFileSync('ssh-keygen', ['-q', '-t', type, ...(bits ? ['-b', bits] : []), '-N', '', '-C', 'alice@example.com', '-f', file]);
  return { file, pub: readFileSync(`${file}.pub`, 'utf8').trim() };
}

const keys = [keygen('ed25519'), keygen('rsa', '2048'), keygen('ecdsa', '256')];

describe('SSHSIG', () => {
  it.each(keys.map((k) => [k.pub.split(' ')[0], k] as const))('%s: ssh-keygen -Y verify accepts ours, we accept ssh-keygen -Y sign', async (_t, k) => {
    const allowed = path.join(tmp, `allowed_${path.basename(k.file)}`);
    writeFileSync(allowed, `alice@example.com namespaces="ee-deploy" ${k.pub}\n`);
    const msg = '{"id":"20260101000000","action":"deploy","prev":""}';
    const sig = await sshsign(msg, 'ee-deploy', keyFileSigner(readFileSync(k.file)));
    const sigFile = path.join(tmp, 'msg.sig');
    writeFileSync(sigFile, sig + '\n');
    const out = execFileSync('ssh-keygen', ['-Y', 'verify', '-f', allowed, '-I', 'alice@example.com', '-n', 'ee-deploy', '-s', sigFile], { input: msg, encoding: 'utf8' });
    expect(out).toMatch(/Good "ee-deploy" signature for alice@example.com/);
    // a changed byte is refused by ssh-keygen
    expect(() => execFileSync('ssh-keygen', ['-Y', 'verify', '-f', allowed, '-I', 'alice@example.com', '-n', 'ee-deploy', '-s', sigFile], { input: msg.replace('deploy', 'deplox'), stdio: 'pipe' })).toThrow();
    // and the other way round
    const msgFile = path.join(tmp, 'msg');
    writeFileSync(msgFile, msg);
    execFileSync('ssh-keygen', ['-Y', 'sign', '-f', k.file, '-n', 'ee-deploy', msgFile], { stdio: 'pipe' });
    const theirs = readFileSync(`${msgFile}.sig`, 'utf8');
    expect(sshverify(msg, 'ee-deploy', theirs).toString('base64')).toBe(k.pub.split(' ')[1]);
    expect(() => sshverify(msg, 'git', theirs)).toThrow(/namespace/);
    expect(() => sshverify(msg + ' ', 'ee-deploy', theirs)).toThrow(/bad signature/);
  });

  it('signing through a real ssh-agent (Ed25519, RSA, ECDSA): ssh-keygen -Y verify accepts it', async () => {
    const sock = path.join(tmp, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 20));
      for (const k of keys) {
        execFileSync('ssh-add', [k.file], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'pipe' });
        const blob = Buffer.from(k.pub.split(' ')[1], 'base64');
        const msg = `agent-signed ${k.pub.split(' ')[0]}`;
        const sig = await sshsign(msg, 'ee-deploy', agentSigner(sock, blob));
        const allowed = path.join(tmp, 'allowed_agent');
        writeFileSync(allowed, `alice@example.com ${k.pub}\n`);
        writeFileSync(path.join(tmp, 'agent.sig'), sig + '\n');
        const out = execFileSync('ssh-keygen', ['-Y', 'verify', '-f', allowed, '-I', 'alice@example.com', '-n', 'ee-deploy', '-s', path.join(tmp, 'agent.sig')], { input: msg, encoding: 'utf8' });
        expect(out).toMatch(/Good "ee-deploy" signature/);
        expect(sshverify(msg, 'ee-deploy', sig).equals(blob)).toBe(true);
      }
    } finally {
      agent.kill();
    }
  });

  it('a history line verifies with ssh-keygen over the line without its sig member', async () => {
    const k = keys[0];
    const line = await signedHistoryLine({ id: '20260101000000', action: 'deploy', status: 'success', user: 'alice' }, '', keyFileSigner(readFileSync(k.file)));
    expect(line).toMatch(/,"prev":"","sig":"-----BEGIN SSH SIGNATURE-----\\n[^"]+\\n-----END SSH SIGNATURE-----"}$/);
    const split = splitSigned(line);
    if (typeof split === 'string') throw new Error(split);
    const allowed = path.join(tmp, 'allowed_line');
    writeFileSync(allowed, `alice@example.com ${k.pub}\n`);
    writeFileSync(path.join(tmp, 'line.sig'), split.sig + '\n');
    const out = execFileSync('ssh-keygen', ['-Y', 'verify', '-f', allowed, '-I', 'alice@example.com', '-n', 'ee-deploy', '-s', path.join(tmp, 'line.sig')], { input: split.unsigned, encoding: 'utf8' });
    expect(out).toMatch(/Good "ee-deploy" signature/);
  });
});

describe('audit chain', () => {
  const signer = keyFileSigner(readFileSync(keys[0].file));
  const allowed = parseAllowedSigners(`# team\nalice@example.com,ci ${keys[0].pub}\n`);
  const stranger = keyFileSigner(readFileSync(keygen('ed25519', undefined).file));

  async function history(n: number, by = signer): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(await signedHistoryLine({ id: `202601010000${String(i).padStart(2, '0')}`, action: i % 3 ? 'deploy' : 'rollback', status: 'success', user: 'alice', duration_ms: i * 17 }, out[i - 1] ?? '', by));
    return out;
  }

  it('an intact history verifies; allowed_signers principals are reported', async () => {
    const h = await history(5);
    expect(verifyChain(h.join('\n') + '\n', allowed)).toEqual({ lines: 5, signers: ['alice@example.com', 'ci'] });
    expect(JSON.parse(h[1]).prev).toBe(lineHash(h[0]));
  });

  it('names the first bad line for each kind of tampering', async () => {
    const h = await history(6);
    const check = (lines: string[]) => verifyChain(lines.join('\n'), allowed).problem;
    expect(check([...h.slice(0, 2), h[2].replace('"success"', '"failed"'), ...h.slice(3)])).toMatchObject({ line: 3, reason: expect.stringMatching(/bad signature/) });
    expect(check([...h.slice(0, 2), ...h.slice(3)])).toMatchObject({ line: 3, reason: expect.stringMatching(/prev does not match line 2/) });
    expect(check([h[0], h[2], h[1], ...h.slice(3)])).toMatchObject({ line: 2 });
    expect(check(h.slice(1))).toMatchObject({ line: 1, reason: expect.stringMatching(/deleted/) });
    const forged = await signedHistoryLine({ id: 'x', action: 'deploy' }, h[5], stranger);
    expect(check([...h, forged])).toMatchObject({ line: 7, reason: expect.stringMatching(/not in allowed_signers \(SHA256:/) });
    expect(check([...h, JSON.stringify({ id: 'x', prev: lineHash(h[5]) })])).toMatchObject({ line: 7, reason: 'not signed' });
  });

  it('property: random single edits, deletions, swaps and insertions are all detected', async () => {
    const h = await history(40);
    const extra = await history(3, stranger);
    let seed = 42;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const counts = { edit: 0, delete: 0, swap: 0, insert: 0 };
    for (let trial = 0; trial < 400; trial++) {
      const lines = [...h];
      const kind = (['edit', 'delete', 'swap', 'insert'] as const)[trial % 4];
      if (kind === 'edit') {
        const i = rnd(lines.length);
        const pos = rnd(lines[i].length);
        const ch = lines[i][pos];
        lines[i] = lines[i].slice(0, pos) + (ch === 'a' ? 'b' : 'a') + lines[i].slice(pos + 1);
      } else if (kind === 'delete') lines.splice(rnd(lines.length - 1), 1); // the last line: the state check's job
      else if (kind === 'swap') {
        const i = rnd(lines.length - 1);
        [lines[i], lines[i + 1]] = [lines[i + 1], lines[i]];
      } else {
        const i = rnd(lines.length + 1);
        // a genuinely signed line (by an allowed key) lifted from elsewhere, or one by a stranger
        lines.splice(i, 0, trial % 8 === 3 ? h[rnd(h.length)] : extra[rnd(extra.length)]);
      }
      const r = verifyChain(lines.join('\n'), allowed);
      expect(r.problem, `${kind} trial ${trial}`).toBeDefined();
      counts[kind]++;
    }
    console.log(`audit chain property test: ${JSON.stringify(counts)} single changes tried, all detected`);
  });

  it('10,000 lines: a full check is measured; a re-check of what this machine verified takes well under a second', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 10_000; i++) lines.push(await signedHistoryLine({ id: String(i), action: 'deploy', status: 'success' }, lines[i - 1] ?? '', signer));
    const text = lines.join('\n');
    // CPU time of this process: the wall clock of a shared, loaded machine measures the neighbours
    const cpu = (fn: () => void) => {
      const c0 = process.cpuUsage();
      fn();
      const c = process.cpuUsage(c0);
      return (c.user + c.system) / 1000;
    };
    let full: ReturnType<typeof verifyChain> | undefined;
    const fullMs = cpu(() => (full = verifyChain(text, allowed)));
    expect(full!.problem).toBeUndefined();
    let again: ReturnType<typeof verifyChain> | undefined;
    const againMs = cpu(() => (again = verifyChain(text + '\n' + lines.length, allowed, 10_000)));
    // the appended garbage line is checked in full and refused; the 10,000 verified ones by their hash links
    expect(again!.problem).toMatchObject({ line: 10_001 });
    console.log(`audit verify of 10,000 lines: full check ${fullMs.toFixed(0)} ms CPU (Ed25519 verification is most of it), re-check of verified lines ${againMs.toFixed(0)} ms CPU`);
    expect(againMs).toBeLessThan(1000);
  }, 120_000);
});
