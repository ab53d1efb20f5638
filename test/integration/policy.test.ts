/**
 * Deploy policy end to end over a real OpenSSH server: windows and freezes refuse with exit 6
 * naming the rule and the next allowed time, touching nothing; --override-policy -m passes them
 * and is recorded; rollback is never blocked by them; deployers; signed commits with real git
 * SSH signing and `git verify-commit`; approvals (request on every host, approve by another
 * performer, the same content proceeds, changed content does not, requests reused).
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshd, type SshdFixture } from '../helpers/sshd.js';
import { cli, current, historyRecords, newProject, projectYaml, releases, server, type Project, type ProjectSpec } from '../helpers/deploy-env.js';

let f: SshdFixture;
let tmp: string;

beforeAll(async () => {
  f = await startSshd({ servers: [server('web1'), server('web2')] });
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-policy-'));
});

afterAll(async () => {
  await f?.stopAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const today = new Date().getUTCDay();
const closedDay = DAYS[(today + 3) % 7];
const ymd = (offsetDays: number) => new Date(Date.now() + offsetDays * 86400_000).toISOString().slice(0, 10);

function project(policy: string, spec: Partial<ProjectSpec> = {}, hosts = ['web1']): { p: Project; roots: string[] } {
  const roots = hosts.map(() => mkdtempSync(path.join(tmp, 'root-')));
  const s: ProjectSpec = { hosts: hosts.map((h, i) => ({ host: h, path: roots[i] })), ...spec };
  const p = newProject(s);
  writeFileSync(p.config, `policy: ${policy}\n${projectYaml(s)}`);
  return { p, roots };
}

const run = (p: Project, args: string[], env: NodeJS.ProcessEnv = {}, home = f.home) => cli(home, p.dir, args, { env });

/** another person: their own HOME with their own SSH key (authorized on the test sshd) */
function person(name: string): { home: string; key: string; pub: string } {
  const home = mkdtempSync(path.join(tmp, `home-${name}-`));
  const ssh = path.join(home, '.ssh');
  mkdirSync(ssh, { mode: 0o700 });
  const key = path.join(ssh, `id_${name}`);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', key]);
  const pub = readFileSync(`${key}.pub`, 'utf8').trim();
  appendFileSync(path.join(f.dir, 'authorized_keys'), `${pub}\n`);
  writeFileSync(path.join(ssh, 'config'), readFileSync(f.sshConfig, 'utf8').split(f.clientKey).join(key), { mode: 0o600 });
  copyFileSync(f.knownHosts, path.join(ssh, 'known_hosts'));
  return { home, key, pub };
}

describe('windows and freezes', () => {
  it('outside every window: exit 6 naming the rule and the next allowed time; nothing touched', async () => {
    const { p, roots } = project(`{ windows: ["${closedDay} 10:00-11:00 Europe/Berlin"] }`);
    const r = await run(p, ['deploy']);
    expect(r.code, r.stderr).toBe(6);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`^error: policy windows: outside every deploy window \\(${closedDay} 10:00-11:00 Europe/Berlin\\); next allowed \\d{4}-\\d{2}-\\d{2} 10:00 Europe/Berlin \\(\\d{4}-\\d{2}-\\d{2}T0[89]:00:00Z\\)`));
    expect(existsSync(path.join(roots[0], 'releases'))).toBe(false);
    const j = await run(p, ['deploy', '--json']);
    expect(JSON.parse(j.stdout)).toMatchObject({ ok: false, exitCode: 6, error: { type: 'PolicyError' } });
  });

  it('a freeze refuses; --override-policy -m passes it, is recorded in history and warned; rollback is never blocked', async () => {
    const { p, roots } = project(`{ freeze: [{ from: "${ymd(-1)}", to: "${ymd(1)}", reason: "year-end" }], deployers: [alice] }`);
    const r = await run(p, ['deploy']);
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/^error: policy freeze: deploys are frozen from \S+ to \S+ \(year-end\); next allowed /);
    expect((await run(p, ['deploy', '--override-policy'])).code).toBe(2);
    const o1 = await run(p, ['deploy', '--override-policy', '-m', 'hotfix INC-42']);
    expect(o1.code, o1.stderr).toBe(0);
    expect(o1.stdout + o1.stderr).toMatch(/policy overridden by alice \(hotfix INC-42\): policy freeze/);
    writeFileSync(path.join(p.app, 'index.html'), 'v2\n');
    expect((await run(p, ['deploy', '--override-policy', '-m', 'hotfix 2'])).code).toBe(0);
    const h = historyRecords(roots[0]);
    expect(h[0]).toMatchObject({ status: 'success', message: 'hotfix INC-42', warnings: [expect.stringMatching(/^policy overridden by alice \(hotfix INC-42\): policy freeze/)] });
    const first = releases(roots[0])[0];
    const rb = await run(p, ['rollback', '--yes']);
    expect(rb.code, rb.stderr).toBe(0);
    expect(current(roots[0])).toBe(first);
    // deployers still applies to a rollback
    const other = await run(p, ['rollback', '--yes'], { GITHUB_ACTOR: 'mallory' });
    expect(other.code).toBe(6);
    expect(other.stderr).toMatch(/^error: policy deployers: mallory may not rollback here \(allowed: alice\)/);
  });
});

describe('signed commits', () => {
  function gitRepo(dir: string, sign: boolean, allowed: string): void {
    const key = path.join(tmp, 'sign_ed25519');
    if (!existsSync(key)) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    const g = (...a: string[]) => execFileSync('git', ['-C', dir, ...a], { stdio: 'pipe', env: { ...process.env, GIT_CEILING_DIRECTORIES: os.tmpdir() } });
    g('init', '-q');
    g('config', 'user.name', 'alice');
    g('config', 'user.email', 'alice@example.com');
    g('config', 'gpg.format', 'ssh');
    g('config', 'user.signingkey', `${key}.pub`);
    writeFileSync(allowed, `alice@example.com ${readFileSync(`${key}.pub`, 'utf8')}`);
    g('config', 'gpg.ssh.allowedSignersFile', allowed);
    g('add', '-A');
    g('commit', '-q', ...(sign ? ['-S'] : []), '-m', 'release');
  }

  it('an unsigned commit is refused (exit 6); a commit signed with an allowed SSH key deploys; uncommitted changes are refused', async () => {
    const { p, roots } = project('{ require_signed_commits: true }');
    gitRepo(p.dir, false, path.join(p.dir, '.allowed'));
    const r = await run(p, ['deploy'], { GIT_CEILING_DIRECTORIES: undefined });
    expect(r.code, r.stderr).toBe(6);
    expect(r.stderr).toMatch(/^error: policy require_signed_commits: commit [0-9a-f]{12} is not signed by an allowed signer/);
    execFileSync('git', ['-C', p.dir, 'commit', '-q', '--amend', '-S', '--no-edit'], { stdio: 'pipe' });
    const ok = await run(p, ['deploy'], { GIT_CEILING_DIRECTORIES: undefined });
    expect(ok.code, ok.stderr).toBe(0);
    expect(releases(roots[0])).toHaveLength(1);
    writeFileSync(path.join(p.app, 'index.html'), 'tampered\n');
    const dirty = await run(p, ['deploy'], { GIT_CEILING_DIRECTORIES: undefined });
    expect(dirty.code).toBe(6);
    expect(dirty.stderr).toMatch(/uncommitted changes/);
  });
});

describe('approvals', () => {
  it('request on every host, approve by another performer, same content proceeds; requests reused; changed content needs a new one', async () => {
    const { p, roots } = project('{ approvals: 1, approval_ttl: 1h }', {}, ['web1', 'web2']);
    const r1 = await run(p, ['deploy']);
    expect(r1.code, r1.stderr).toBe(6);
    const id = /ee-deploy approve ([0-9a-f]{12})/.exec(r1.stderr)?.[1];
    expect(id, r1.stderr).toBeDefined();
    for (const root of roots) {
      const req = JSON.parse(readFileSync(path.join(root, '.ee-deploy', 'approvals', `${id}.json`), 'utf8'));
      expect(req).toMatchObject({ request: id, project: 'shop', env: 'production', requester: 'alice', approvals: [] });
      expect(req.fingerprint).toMatch(/^[0-9a-f]{32}$/);
      expect(Date.parse(req.expires) - Date.parse(req.requested)).toBe(3600_000);
      expect(existsSync(path.join(root, 'releases'))).toBe(false);
    }
    // the same content again reuses the pending request
    const r2 = await run(p, ['deploy']);
    expect(r2.code).toBe(6);
    expect(r2.stderr).toContain(`ee-deploy approve ${id}`);
    expect(readdirSync(path.join(roots[0], '.ee-deploy', 'approvals'))).toEqual([`${id}.json`]);
    const list = await run(p, ['approvals']);
    expect(list.stdout).toContain(id!);
    // the requester cannot approve their own deploy
    const self = await run(p, ['approve', id!]);
    expect(self.code).toBe(2);
    expect(self.stderr).toMatch(/alice requested .* cannot approve it/);
    // nor under another name with the same SSH key (the key tells people apart)
    const sameKey = await run(p, ['approve', id!], { GITHUB_ACTOR: 'bob' });
    expect(sameKey.code, sameKey.stderr).toBe(2);
    expect(sameKey.stderr).toMatch(/approval signed with the same key does not count/);
    // a hand-written approval on the server (no signature) does not count either
    for (const root of roots) {
      const file = path.join(root, '.ee-deploy', 'approvals', `${id}.json`);
      const req = JSON.parse(readFileSync(file, 'utf8'));
      expect(req.requester_key).toMatch(/^SHA256:/);
      writeFileSync(file, JSON.stringify({ ...req, approvals: [{ user: 'mallory', machine: 'x', time: new Date().toISOString() }] }));
    }
    expect((await run(p, ['deploy'])).code).toBe(6);
    const a = await run(p, ['approve', id!], { GITHUB_ACTOR: 'bob' }, person('bob').home);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/approved .* as bob: 1 of 1/);
    const d = await run(p, ['deploy']);
    expect(d.code, d.stderr).toBe(0);
    expect(releases(roots[1])).toHaveLength(1);
    // changed content: the approval does not count
    writeFileSync(path.join(p.app, 'index.html'), 'v2\n');
    const r3 = await run(p, ['deploy']);
    expect(r3.code).toBe(6);
    expect(r3.stderr).not.toContain(id!);
  });

  it('with audit.allowed_signers, an approval counts only when signed by an allowed key (approve signs with its SSH key)', async () => {
    const { p, roots } = project('{ approvals: 1 }');
    const bob = person('bob');
    const carol = person('carol');
    writeFileSync(path.join(p.dir, 'allowed_signers'), `bob namespaces="ee-deploy" ${bob.pub}\n`);
    writeFileSync(p.config, `audit: { allowed_signers: allowed_signers }\n${readFileSync(p.config, 'utf8')}`);
    const id = /ee-deploy approve ([0-9a-f]{12})/.exec((await run(p, ['deploy'])).stderr)![1];
    // a hand-made approval (no signature) written on the server does not count
    const file = path.join(roots[0], '.ee-deploy', 'approvals', `${id}.json`);
    const req = JSON.parse(readFileSync(file, 'utf8'));
    writeFileSync(file, JSON.stringify({ ...req, approvals: [{ user: 'mallory', machine: 'x', time: new Date().toISOString() }] }));
    expect((await run(p, ['deploy'])).code).toBe(6);
    // signed, but by a key not in allowed_signers
    const c = await run(p, ["approve", id], { GITHUB_ACTOR: "carol" }, carol.home);
    expect(c.code, c.stderr).toBe(0);
    expect((await run(p, ['deploy'])).code).toBe(6);
    const a = await run(p, ['approve', id], { GITHUB_ACTOR: 'bob' }, bob.home);
    expect(a.code, a.stderr).toBe(0);
    const signed = JSON.parse(readFileSync(file, 'utf8')).approvals.find((x: { user: string }) => x.user === 'bob');
    expect(signed.sig).toMatch(/^-----BEGIN SSH SIGNATURE-----\n/);
    const d = await run(p, ['deploy']);
    expect(d.code, d.stderr).toBe(0);
  });

  it('an approval on one host only, or on an expired request, does not count', async () => {
    const { p, roots } = project('{ approvals: 1 }', {}, ['web1', 'web2']);
    const r1 = await run(p, ['deploy']);
    const id = /ee-deploy approve ([0-9a-f]{12})/.exec(r1.stderr)![1];
    expect((await run(p, ['approve', id, '--hosts', 'web1'], { GITHUB_ACTOR: 'bob' }, person('bob').home)).code).toBe(0);
    expect((await run(p, ['deploy'])).code).toBe(6);
    // expire it by hand on both hosts (approved everywhere): still refused
    expect((await run(p, ['approve', id], { GITHUB_ACTOR: 'carol' }, person('carol').home)).code).toBe(0);
    for (const root of roots) {
      const file = path.join(root, '.ee-deploy', 'approvals', `${id}.json`);
      const req = JSON.parse(readFileSync(file, 'utf8'));
      writeFileSync(file, JSON.stringify({ ...req, expires: new Date(Date.now() - 1000).toISOString() }));
    }
    const r = await run(p, ['deploy']);
    expect(r.code).toBe(6);
    expect(r.stderr).not.toContain(id);
    expect(existsSync(path.join(roots[0], 'releases'))).toBe(false);
  });
});
