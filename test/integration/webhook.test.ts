/**
 * `ee-deploy webhook` end to end: a real bare git remote, the CLI listening on a free loopback
 * port, a real HTTP client posting GitHub and GitLab push events, deploys to a local target.
 */
import { request } from 'node:http';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeGitProject, pullEnv, startService, WEBHOOK_SECRET, type GitProject, type Service } from '../helpers/git-project.js';
import { signGithub } from '../../src/pipelines/push-event.js';

interface Reply {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

function post(url: string, body: Buffer | string, headers: Record<string, string>, method = 'POST', path = '/'): Promise<Reply> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    let got = false;
    const req = request({ host: u.hostname, port: u.port, path, method, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      got = true;
      let text = '';
      res.setEncoding('utf8').on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: text, headers: res.headers }));
    });
    // the server answers 413 and closes while a large body is still being written: the write
    // fails (EPIPE/ECONNRESET), the answer has arrived or arrives just after
    req.on('error', (e) => setTimeout(() => !got && reject(e), 500));
    if (method !== 'GET' && method !== 'HEAD') req.end(body);
    else req.end();
  });
}

let deliveries = 0;
function githubPush(branch: string, sha: string, o: { secret?: string; delivery?: string; sig?: string | null } = {}): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify({ ref: `refs/heads/${branch}`, before: '0'.repeat(40), after: sha, repository: { full_name: 'acme/app' }, pusher: { name: 'dev' } });
  const headers: Record<string, string> = { 'x-github-event': 'push', 'x-github-delivery': o.delivery ?? `d-${++deliveries}-${Date.now()}` };
  if (o.sig !== null) headers['x-hub-signature-256'] = o.sig ?? signGithub(o.secret ?? WEBHOOK_SECRET, body);
  return { body, headers };
}

function gitlabPush(branch: string, sha: string, token: string | null = WEBHOOK_SECRET): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify({ object_kind: 'push', ref: `refs/heads/${branch}`, after: sha, project: { path_with_namespace: 'acme/app' } });
  const headers: Record<string, string> = { 'x-gitlab-event': 'Push Hook', 'idempotency-key': `gl-${++deliveries}` };
  if (token !== null) headers['x-gitlab-token'] = token;
  return { body, headers };
}

const deployedLines = (s: Service) => s.lines.filter((l) => / cycle \d+ .*: deployed release /.test(l));

let p: GitProject;
let svc: Service;
let url: string;

beforeAll(async () => {
  // a slow local step makes each deploy last long enough for pushes to arrive during it
  p = makeGitProject({ extra: 'hooks: { before_upload: ["sleep 1"] }' });
  svc = await startService(['webhook', '--port', '0', '-e', 'production'], p.work, pullEnv(p));
  const line = await svc.waitLine(/listening on http:\/\//);
  url = /listening on (http:\/\/\S+)/.exec(line)![1];
});

afterAll(async () => {
  if (svc && svc.child.exitCode === null) {
    svc.child.kill('SIGTERM');
    await svc.exited;
  }
  if (p) rmSync(p.tmp, { recursive: true, force: true });
});

describe('webhook', () => {
  it('prints its URL on loopback and warns about nothing else', () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(svc.stderr()).not.toMatch(/warning/);
  });

  it('bad requests: 405, 404, 401 (missing, wrong, other secret, unknown sender), 413; nothing deployed', async () => {
    const sha = p.push({ 'app/index.html': '<h1>evil</h1>\n' }, 'not yet');
    const good = githubPush('main', sha);
    const r405 = await post(url, '', {}, 'GET');
    expect(r405.status).toBe(405);
    expect(r405.headers.allow).toBe('POST');
    expect((await post(url, good.body, good.headers, 'PUT')).status).toBe(405);
    expect((await post(url, good.body, good.headers, 'POST', '/deploy')).status).toBe(404);
    const missing = githubPush('main', sha, { sig: null });
    missing.headers['x-github-event'] = 'push';
    expect((await post(url, missing.body, missing.headers)).status).toBe(401);
    expect((await post(url, good.body, { ...good.headers, 'x-hub-signature-256': signGithub('another-secret-0123456789', good.body) })).status).toBe(401);
    // right signature for a different body (tampered payload)
    expect((await post(url, good.body.replace('main', 'main '), good.headers)).status).toBe(401);
    expect((await post(url, good.body, { ...good.headers, 'x-hub-signature-256': 'sha256=zz' })).status).toBe(401);
    const unknown = await post(url, good.body, {});
    expect(unknown.status).toBe(401);
    const gl = gitlabPush('main', sha, 'wrong-token');
    expect((await post(url, gl.body, gl.headers)).status).toBe(401);
    expect((await post(url, gitlabPush('main', sha, null).body, gitlabPush('main', sha, null).headers)).status).toBe(401);
    // oversized: announced by Content-Length, and streamed (chunked) past the limit
    const big = Buffer.alloc(6 << 20, 0x20);
    const r413 = await post(url, big, { ...good.headers, 'x-hub-signature-256': signGithub(WEBHOOK_SECRET, big) });
    expect(r413.status).toBe(413);
    const chunked = await new Promise<number>((resolve, reject) => {
      const u = new URL(url);
      const req = request({ host: u.hostname, port: u.port, method: 'POST', path: '/', headers: { ...good.headers, 'transfer-encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      let sent = 0;
      const chunk = Buffer.alloc(256 << 10, 0x20);
      const write = () => {
        while (sent < 8 << 20) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', write);
        }
        req.end();
      };
      write();
    }).catch((e: Error) => `error ${e.message}`);
    expect(chunked).toBe(413);
    await new Promise((r) => setTimeout(r, 300));
    expect(p.releases()).toEqual([]);
    expect(svc.lines.filter((l) => /cycle started|queued/.test(l))).toEqual([]);
    expect(svc.lines.join('\n')).toMatch(/-> 401: unauthenticated github request: missing X-Hub-Signature-256/);
    expect(svc.lines.join('\n')).toMatch(/-> 401: unauthenticated github request: wrong X-Hub-Signature-256/);
    expect(svc.lines.join('\n')).toMatch(/-> 401: unauthenticated gitlab request: wrong X-Gitlab-Token/);
    expect(svc.lines.join('\n')).not.toContain(WEBHOOK_SECRET);
  });

  it('a signed push to main deploys it; another branch and a tag are 202 and ignored; ping is 200', async () => {
    const sha = p.push({ 'app/index.html': '<h1>v1</h1>\n' }, 'v1');
    const ping = await post(url, '{"zen":"hi"}', { 'x-github-event': 'ping', 'x-github-delivery': 'ping-1', 'x-hub-signature-256': signGithub(WEBHOOK_SECRET, '{"zen":"hi"}') });
    expect(ping.status).toBe(200);
    const other = p.push({ 'app/index.html': '<h1>feature</h1>\n' }, 'feature', 'feature');
    const o = githubPush('feature', other);
    const ro = await post(url, o.body, o.headers);
    expect(ro.status).toBe(202);
    expect(JSON.parse(ro.body)).toMatchObject({ status: 'ignored' });
    const tagBody = JSON.stringify({ ref: 'refs/tags/v1', after: sha });
    const rt = await post(url, tagBody, { 'x-github-event': 'push', 'x-github-delivery': 'tag-1', 'x-hub-signature-256': signGithub(WEBHOOK_SECRET, tagBody) });
    expect(rt.status).toBe(202);
    expect(JSON.parse(rt.body).status).toBe('ignored');
    expect(p.releases()).toEqual([]);

    const g = githubPush('main', sha, { delivery: 'replay-me' });
    const r = await post(url, g.body, g.headers);
    expect(r.status).toBe(202);
    expect(JSON.parse(r.body)).toMatchObject({ status: 'deploying', branch: 'main', commit: sha });
    await svc.waitLine(/cycle 1 .*: deployed release/);
    expect(p.revision()).toBe(sha);
    expect(p.locked()).toBe(false);

    // the same delivery again (a redelivery or a replay): answered, nothing runs
    const again = await post(url, g.body, g.headers);
    expect(again.status).toBe(202);
    expect(JSON.parse(again.body).status).toBe('duplicate');
    // the same body under a new delivery id (a replay with a forged id): a cycle runs, but the
    // branch has not moved, so nothing is deployed
    const forged = await post(url, g.body, { ...g.headers, 'x-github-delivery': 'forged-id' });
    expect(forged.status).toBe(202);
    await svc.waitLine(/cycle 2 main@[0-9a-f]{12}: up to date/);
    expect(p.releases()).toHaveLength(1);
  });

  it('GitLab push events deploy too', async () => {
    const sha = p.push({ 'app/index.html': '<h1>v2</h1>\n' }, 'v2');
    const g = gitlabPush('main', sha);
    const r = await post(url, g.body, g.headers);
    expect(r.status).toBe(202);
    await svc.waitLine(/cycle 3 .*: deployed release/);
    expect(p.revision()).toBe(sha);
  });

  it('pushes during a deploy queue and fold into one follow-up cycle that deploys the newest; deploys never overlap', async () => {
    const before = deployedLines(svc).length;
    const a = p.push({ 'app/index.html': '<h1>a</h1>\n' }, 'a');
    const ra = await post(url, githubPush('main', a).body, githubPush('main', a).headers);
    expect(JSON.parse(ra.body).status).toBe('deploying');
    const shas: string[] = [];
    for (const v of ['b', 'c', 'd']) {
      const s = p.push({ 'app/index.html': `<h1>${v}</h1>\n` }, v);
      shas.push(s);
      const ev = githubPush('main', s);
      const rr = await post(url, ev.body, ev.headers);
      expect(rr.status).toBe(202);
      expect(JSON.parse(rr.body).status).toBe('queued');
    }
    await svc.waitLine(/\+ 2 more folded in\]/, 60_000);
    const after = deployedLines(svc).slice(before);
    expect(after).toHaveLength(2);
    expect(p.revision()).toBe(shas[2]);
    // never overlapping: each deploy's history record starts after the previous one ended
    const recs = p.history().filter((h) => h.action === 'deploy');
    for (let i = 1; i < recs.length; i++) {
      const prevEnd = Date.parse(String(recs[i - 1].started)) + Number(recs[i - 1].duration_ms);
      expect(Date.parse(String(recs[i].started))).toBeGreaterThanOrEqual(prevEnd - 5);
    }
    expect(recs.every((h) => h.status === 'success')).toBe(true);
    expect(p.locked()).toBe(false);
  });

  it('SIGTERM: clean stop, exit 0, no lock left (also in the middle of a deploy)', async () => {
    const sha = p.push({ 'app/index.html': '<h1>last</h1>\n' }, 'last');
    const liveBefore = p.current();
    const ev = githubPush('main', sha);
    expect((await post(url, ev.body, ev.headers)).status).toBe(202);
    await new Promise((r) => setTimeout(r, 300)); // inside the deploy's slow build step
    svc.child.kill('SIGTERM');
    const { code } = await svc.exited;
    expect(code, svc.stderr()).toBe(0);
    expect(svc.lines[svc.lines.length - 1]).toMatch(/webhook stopped$/);
    expect(p.locked()).toBe(false);
    // current is on a complete release: the one before, or the new one if it finished
    expect([liveBefore, p.releases().at(-1)]).toContain(p.current());
    expect(p.releases().every((id) => p.history().some((h) => h.id === id && h.status === 'success'))).toBe(true);
  });
});
