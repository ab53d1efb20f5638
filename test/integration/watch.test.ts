/**
 * `ee-deploy watch` end to end: a real bare git remote (a directory path), the deploy work tree
 * fast-forwarded by each cycle, deploys to a local target; killed at random moments.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { git, makeGitProject, pullEnv, startService, type GitProject, type Service } from '../helpers/git-project.js';

const projects: GitProject[] = [];
const services: Service[] = [];
let hook: Server | undefined;

afterEach(async () => {
  for (const s of services.splice(0)) {
    if (s.child.exitCode === null && s.child.signalCode === null) {
      s.child.kill('SIGKILL');
      await s.exited;
    }
  }
});
afterAll(() => {
  hook?.close();
  for (const p of projects) rmSync(p.tmp, { recursive: true, force: true });
});

function project(extra = ''): GitProject {
  const p = makeGitProject({ extra });
  projects.push(p);
  return p;
}

async function watch(p: GitProject, args: string[] = []): Promise<Service> {
  const s = await startService(['watch', '-e', 'production', '--interval', '1s', ...args], p.work, pullEnv(p));
  services.push(s);
  return s;
}

const cycleLines = (s: Service) => s.lines.filter((l) => / watch cycle \d+ /.test(l));

/** nothing partial: every release complete (REVISION written), current on one of them, no staging leftovers in releases/ */
function assertConsistent(p: GitProject): void {
  const rel = path.join(p.deployRoot, 'releases');
  if (!existsSync(rel)) return;
  for (const id of readdirSync(rel)) {
    expect(id).toMatch(/^\d{14}$/);
    expect(existsSync(path.join(rel, id, 'REVISION')), `${id} complete`).toBe(true);
  }
  const cur = p.current();
  if (cur) expect(existsSync(path.join(rel, cur, 'REVISION'))).toBe(true);
}

describe('watch', () => {
  it('deploys at start, then whenever the branch moves; one line per cycle; SIGTERM exits 0 with no lock', async () => {
    const p = project();
    const s = await watch(p);
    await s.waitLine(/cycle 1 main@[0-9a-f]{12}: deployed release \d{14}/);
    const first = git(p.dev, 'rev-parse', 'HEAD');
    expect(p.revision()).toBe(first);
    await s.waitLine(/cycle 2 main@[0-9a-f]{12}: up to date$/);
    const sha = p.push({ 'app/index.html': '<h1>v2</h1>\n' });
    const line = await s.waitLine(new RegExp(`main ${first.slice(0, 12)}\\.\\.${sha.slice(0, 12)}: deployed release \\d{14}`));
    expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ watch cycle \d+ /);
    expect(p.revision()).toBe(sha);
    expect(git(p.work, 'rev-parse', 'HEAD')).toBe(sha);
    await s.waitLine(/cycle \d+ main@[0-9a-f]{12}: up to date$/, 10_000, s.lines.indexOf(line) + 1);
    // one line per cycle: cycles numbered 1..n with no gap or repeat, nothing else but start/stop
    const n = cycleLines(s).map((l) => Number(/cycle (\d+)/.exec(l)![1]));
    expect(n).toEqual(Array.from({ length: n.length }, (_, i) => i + 1));
    expect(s.lines.length).toBe(n.length + 1);
    s.child.kill('SIGTERM');
    expect((await s.exited).code).toBe(0);
    expect(s.lines.at(-1)).toMatch(/watch stopped$/);
    expect(p.locked()).toBe(false);
  });

  it('skips cycles while the lock is held, deploys once it is released', async () => {
    const p = project();
    const env = pullEnv(p);
    const s = await watch(p);
    await s.waitLine(/cycle 1 .*: deployed release/);
    expect((await runCli(['lock', '-e', 'production', '-m', 'freeze'], { cwd: p.work, env })).code).toBe(0);
    const sha = p.push({ 'app/index.html': '<h1>locked</h1>\n' });
    await s.waitLine(/: skipped: .*lock.*freeze.*; retrying next cycle$/);
    await s.waitLine(/cycle \d+ main@[0-9a-f]{12}: skipped: .*retrying next cycle$/, 10_000, s.lines.findIndex((l) => /skipped/.test(l)) + 1);
    expect(p.revision()).not.toBe(sha);
    expect((await runCli(['unlock', '-e', 'production'], { cwd: p.work, env })).code).toBe(0);
    await s.waitLine(new RegExp(`main@${sha.slice(0, 12)}: deployed release`));
    expect(p.revision()).toBe(sha);
  });

  it('survives a failed fetch (logs it, notifies once, goes on) and a failed deploy (not retried until the branch moves)', async () => {
    const received: string[] = [];
    hook = createServer((req, res) => {
      let b = '';
      req.on('data', (d) => (b += d)).on('end', () => {
        received.push(b);
        res.end('ok');
      });
    });
    await new Promise<void>((r) => hook!.listen(0, '127.0.0.1', r));
    const port = (hook.address() as AddressInfo).port;
    const p = project(`notifications:\n  on: [failure]\n  webhooks: [{ url: "http://127.0.0.1:${port}/hook" }]`);
    const s = await watch(p);
    await s.waitLine(/cycle 1 .*: deployed release/);
    const moved = `${p.remote}.moved`;
    renameSync(p.remote, moved);
    const failLine = await s.waitLine(/cycle \d+ main: fetch failed: git fetch origin main failed: /);
    const idx = s.lines.indexOf(failLine);
    await s.waitLine(/cycle \d+ main: fetch failed/, 10_000, idx + 1);
    renameSync(moved, p.remote);
    const sha = p.push({ 'app/index.html': '<h1>back</h1>\n' });
    await s.waitLine(new RegExp(`main@${sha.slice(0, 12)}: deployed release|\\.\\.${sha.slice(0, 12)}: deployed release`));
    // one notification for the failing streak, not one per cycle
    const fetchNotes = received.filter((b) => b.includes('git fetch origin main failed'));
    expect(fetchNotes).toHaveLength(1);

    // a commit that breaks the build: deploy fails (exit 1), logged, held until the branch moves
    const broken = p.push({ 'ee-deploy.yaml': (await import('node:fs')).readFileSync(p.config, 'utf8').replace('source: { dir: app }', 'source: { dir: app, build: "exit 3" }') }, 'break the build');
    const failed = await s.waitLine(/deploy failed \(exit 1\): .*not retried until main moves$/);
    expect(failed).toContain(broken.slice(0, 12));
    const held = await s.waitLine(/skipped: [0-9a-f]{12} failed to deploy; waiting for main to move$/, 10_000, s.lines.indexOf(failed) + 1);
    expect(held).toBeTruthy();
    expect(received.some((b) => b.includes('exit 3') || b.includes('build'))).toBe(true);
    const fixed = p.push({ 'ee-deploy.yaml': (await import('node:fs')).readFileSync(path.join(p.dev, 'ee-deploy.yaml'), 'utf8').replace(', build: "exit 3"', ''), 'app/index.html': '<h1>fixed</h1>\n' }, 'fix');
    await s.waitLine(new RegExp(`${fixed.slice(0, 12)}: deployed release`));
    expect(p.revision()).toBe(fixed);
    s.child.kill('SIGTERM');
    expect((await s.exited).code).toBe(0);
    expect(p.locked()).toBe(false);
  });

  it('a restarted watcher does not redeploy what already runs (deploy --if-changed)', async () => {
    const p = project();
    const s1 = await watch(p);
    await s1.waitLine(/cycle 1 .*: deployed release/);
    s1.child.kill('SIGTERM');
    expect((await s1.exited).code).toBe(0);
    const before = p.releases();
    const s2 = await watch(p);
    await s2.waitLine(/cycle 1 main@[0-9a-f]{12}: unchanged \(every host already runs this content\)$/);
    expect(p.releases()).toEqual(before);
    // a commit outside source.dir moves the branch but not the content
    p.push({ 'README.md': 'docs\n' }, 'docs only');
    await s2.waitLine(/cycle \d+ main [0-9a-f]{12}\.\.[0-9a-f]{12}: unchanged/);
    expect(p.releases()).toEqual(before);
  });

  it('start-up errors exit 2: not on the branch, bad interval', async () => {
    const p = project();
    const env = pullEnv(p);
    const r1 = await runCli(['watch', '-e', 'production', '--branch', 'develop'], { cwd: p.work, env, timeoutMs: 20_000 });
    expect(r1.code).toBe(2);
    expect(r1.stderr).toMatch(/^error: the work tree .* is on branch main; check out develop there/m);
    const r2 = await runCli(['watch', '-e', 'production', '--interval', 'soon'], { cwd: p.work, env, timeoutMs: 20_000 });
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/^error: --interval: invalid duration "soon"/m);
  });

  it('killed at random moments (SIGTERM and SIGKILL): nothing partial, and the next run recovers', async () => {
    const p = project('hooks: { before_upload: ["sleep 0.5"] }');
    let last = git(p.dev, 'rev-parse', 'HEAD');
    for (let round = 0; round < 6; round++) {
      const sig: NodeJS.Signals = round % 2 === 0 ? 'SIGKILL' : 'SIGTERM';
      last = p.push({ 'app/index.html': `<h1>round ${round}</h1>\n`, [`app/r${round}.txt`]: `${round}\n` }, `round ${round}`);
      const s = await watch(p);
      // SIGKILL at any moment; SIGTERM once it runs (before that Node's default action applies)
      if (sig === 'SIGTERM') await s.waitLine(/ watch watching main/);
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 2000)));
      s.child.kill(sig);
      const { code, signal } = await s.exited;
      if (sig === 'SIGTERM') {
        expect(code, s.stderr()).toBe(0);
        expect(p.locked()).toBe(false);
      } else expect(signal).toBe('SIGKILL');
      // a SIGKILLed run's build step may still be finishing: give its orphan a moment
      await new Promise((r) => setTimeout(r, 600));
      assertConsistent(p);
    }
    // the next run recovers: a stale lock of a dead watcher is broken, the head is deployed
    const s = await watch(p);
    await s.waitLine(new RegExp(`main@${last.slice(0, 12)}: (deployed release|up to date|unchanged)`), 30_000);
    await s.waitLine(/: up to date$/, 10_000);
    expect(p.revision()).toBe(last);
    s.child.kill('SIGTERM');
    expect((await s.exited).code).toBe(0);
    expect(p.locked()).toBe(false);
    assertConsistent(p);
  });
});
