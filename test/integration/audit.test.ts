/**
 * `ee-deploy audit verify` over a real OpenSSH server: a signed, chained history (signed here with
 * a key file, as ssh-keygen would) is intact; an edit, a deletion, a reorder, an unknown signer,
 * and a history cut back to fewer lines than this machine verified are each named at the first
 * bad line, exit 7; --json is one document.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signedHistoryLine } from '../../src/audit/chain.js';
import { keyFileSigner } from '../../src/transport/ssh/signer.js';
import { startSshd, type SshdFixture } from '../helpers/sshd.js';
import { cli, jsonDoc, newProject, projectYaml, server, type Project, type ProjectSpec } from '../helpers/deploy-env.js';

let f: SshdFixture;
let tmp: string;
let p: Project;
let roots: string[];
let lines: string[];
const stateHome = () => path.join(tmp, 'state');

beforeAll(async () => {
  f = await startSshd({ servers: [server('web1'), server('web2')] });
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-audit-'));
  const key = path.join(tmp, 'deploy_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'deployer', '-f', key]);
  roots = [mkdtempSync(path.join(tmp, 'r1-')), mkdtempSync(path.join(tmp, 'r2-'))];
  const spec: ProjectSpec = { hosts: [{ host: 'web1', path: roots[0] }, { host: 'web2', path: roots[1] }] };
  p = newProject(spec);
  writeFileSync(path.join(p.dir, 'allowed_signers'), `alice@example.com namespaces="ee-deploy" ${readFileSync(`${key}.pub`, 'utf8')}`);
  writeFileSync(p.config, `audit: { allowed_signers: allowed_signers }\n${projectYaml(spec)}`);
  const signer = keyFileSigner(readFileSync(key));
  lines = [];
  for (let i = 0; i < 8; i++) lines.push(await signedHistoryLine({ id: `2026010100000${i}`, action: 'deploy', status: 'success', user: 'alice', env: 'production' }, lines[i - 1] ?? '', signer));
  for (const r of roots) writeHistory(r, lines);
});

afterAll(async () => {
  await f?.stopAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function writeHistory(root: string, l: string[]): void {
  mkdirSync(path.join(root, '.ee-deploy'), { recursive: true });
  writeFileSync(path.join(root, '.ee-deploy', 'history.jsonl'), l.map((x) => `${x}\n`).join(''));
}

const audit = (args: string[] = []) => cli(f.home, p.dir, ['audit', 'verify', ...args], { env: { XDG_STATE_HOME: stateHome() } });

describe('audit verify', () => {
  it('intact on every host', async () => {
    const r = await audit();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('web1: 8 lines intact (signed by alice@example.com)\nweb2: 8 lines intact (signed by alice@example.com)\n');
  });

  it.each([
    ['an edited line', (l: string[]) => [...l.slice(0, 3), l[3].replace('"success"', '"failed"'), ...l.slice(4)], 4, /bad signature/],
    ['a deleted line', (l: string[]) => [...l.slice(0, 5), ...l.slice(6)], 6, /prev does not match line 5/],
    ['a reorder', (l: string[]) => [l[0], l[2], l[1], ...l.slice(3)], 2, /prev does not match/],
    ['an unsigned line appended', (l: string[]) => [...l, JSON.stringify({ id: 'x', action: 'deploy' })], 9, /no prev|not signed/],
  ])('%s on one host: named at the first bad line, exit 7', async (_name, change, line, reason) => {
    writeHistory(roots[1], change(lines));
    const r = await audit();
    writeHistory(roots[1], lines);
    expect(r.code).toBe(7);
    expect(r.stdout).toMatch(/^web1: 8 lines intact/);
    expect(r.stdout).toMatch(new RegExp(`^web2: BROKEN at line ${line} of \\d+: ${reason.source}`, 'm'));
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`^error: web2: history line ${line}: `));
  });

  it('a history cut back (last lines removed: the chain alone cannot tell) is named from this machine\'s state', async () => {
    expect((await audit()).code).toBe(0);
    writeHistory(roots[0], lines.slice(0, 6));
    const r = await audit(['--json']);
    expect(r.code).toBe(7);
    const doc = jsonDoc(r.stdout);
    expect(doc.result.hosts[0]).toMatchObject({ host: 'web1', state: 'broken', problem: { line: 7, reason: expect.stringMatching(/shorter than the 8 lines this machine verified/) } });
    writeHistory(roots[0], lines);
  });

  it('a signer missing from allowed_signers is refused', async () => {
    const other = path.join(tmp, 'other_signers');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(tmp, 'other')]);
    writeFileSync(other, `bob ${readFileSync(path.join(tmp, 'other.pub'), 'utf8')}`);
    const r = await cli(f.home, p.dir, ['audit', 'verify', '--allowed-signers', other], { env: { XDG_STATE_HOME: path.join(tmp, 'state2') } });
    expect(r.code).toBe(7);
    expect(r.stdout).toMatch(/^web1: BROKEN at line 1 of 8: signed by a key not in allowed_signers \(SHA256:/m);
  });
});

describe('deploys and rollbacks write the chain', () => {
  it('every line is signed with the key the run authenticated with and chained; ssh-keygen -Y verify accepts a line; audit verify is intact', async () => {
    const roots2 = [mkdtempSync(path.join(tmp, 'w1-')), mkdtempSync(path.join(tmp, 'w2-'))];
    const spec: ProjectSpec = { hosts: [{ host: 'web1', path: roots2[0] }, { host: 'web2', path: roots2[1] }] };
    const q = newProject(spec);
    const pubText = f.clientKeyPublic.trim();
    writeFileSync(path.join(q.dir, 'allowed_signers'), `deployer@ci namespaces="ee-deploy" ${pubText}\n`);
    writeFileSync(q.config, `audit: { allowed_signers: allowed_signers }\n${projectYaml(spec)}`);
    const env = { XDG_STATE_HOME: path.join(tmp, 'state3') };
    expect((await cli(f.home, q.dir, ['deploy'], { env })).code).toBe(0);
    writeFileSync(path.join(q.app, 'index.html'), 'v2\n');
    expect((await cli(f.home, q.dir, ['deploy'], { env })).code).toBe(0);
    const rb = await cli(f.home, q.dir, ['rollback', '--yes'], { env });
    expect(rb.code, rb.stderr).toBe(0);
    const hist = readFileSync(path.join(roots2[0], '.ee-deploy', 'history.jsonl'), 'utf8').trim().split('\n');
    expect(hist).toHaveLength(3);
    expect(JSON.parse(hist[0]).prev).toBe('');
    expect(JSON.parse(hist[2]).action).toBe('rollback');
    // the real ssh-keygen accepts the signature over the line without its sig member
    const line = hist[1];
    const at = line.lastIndexOf(',"sig":"');
    writeFileSync(path.join(tmp, 'hist.sig'), `${JSON.parse(line).sig}\n`);
    const ok = execFileSync('ssh-keygen', ['-Y', 'verify', '-f', path.join(q.dir, 'allowed_signers'), '-I', 'deployer@ci', '-n', 'ee-deploy', '-s', path.join(tmp, 'hist.sig')], { input: `${line.slice(0, at)}}`, encoding: 'utf8' });
    expect(ok).toMatch(/Good "ee-deploy" signature for deployer@ci/);
    const a = await cli(f.home, q.dir, ['audit', 'verify'], { env });
    expect(a.code, a.stdout + a.stderr).toBe(0);
    expect(a.stdout).toBe('web1: 3 lines intact (signed by deployer@ci)\nweb2: 3 lines intact (signed by deployer@ci)\n');
  });
});
