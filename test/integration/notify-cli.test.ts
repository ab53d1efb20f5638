/** `ee-deploy notify --test` end to end: real HTTP receivers, per-channel table, exit codes, no secret. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeProject, runCli } from '../helpers/cli.js';

let server: http.Server;
let base: string;
const bodies: { url: string; body: string; auth?: string }[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      bodies.push({ url: req.url ?? '', body, auth: req.headers.authorization });
      res.statusCode = req.url?.startsWith('/broken') ? 500 : 200;
      res.end(req.url?.startsWith('/tg') ? '{"ok":true,"result":{}}' : 'ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const config = (webhook: string) => `project: notifyapp
notifications:
  timeout: 2s
  slack: { webhook_url: "${base}/slack/\${SLACK_TOKEN}" }
  telegram: { bot_token: "\${TG_TOKEN}", chat_id: "42", api_url: "${base}/tg" }
  webhooks: [{ url: "${base}/${webhook}", name: audit, headers: { Authorization: "Bearer \${HOOK_TOKEN}" } }]
environments:
  local: { hosts: [{ host: local, path: ./target }] }
`;
const env = { SLACK_TOKEN: 'slack-secret-123', TG_TOKEN: 'tg-secret-456', HOOK_TOKEN: 'hook-secret-789' };

describe('notify --test', () => {
  it('sends to every channel and exits 0 when all succeed', async () => {
    bodies.length = 0;
    const p = makeProject(config('hook'));
    const r = await runCli(['notify', '--test'], { cwd: p.dir, env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/slack\s+ok/);
    expect(r.stdout).toMatch(/telegram\s+ok/);
    expect(r.stdout).toMatch(/webhook:audit\s+ok/);
    expect(bodies.map((b) => b.url).sort()).toEqual(['/hook', '/slack/slack-secret-123', '/tg/bottg-secret-456/sendMessage']);
    expect(bodies.find((b) => b.url === '/hook')?.auth).toBe('Bearer hook-secret-789');
    for (const b of bodies) expect(b.body).toMatch(/notifyapp/);
    for (const s of Object.values(env)) expect(r.stdout + r.stderr).not.toContain(s);
  });

  it('a failing channel is FAILED in the table (and --json) and the exit code is 1', async () => {
    const p = makeProject(config('broken'));
    const r = await runCli(['notify', '--test'], { cwd: p.dir, env });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/webhook:audit\s+FAILED\s+3/);
    const j = await runCli(['notify', '--test', '--json'], { cwd: p.dir, env });
    expect(j.code).toBe(1);
    const doc = JSON.parse(j.stdout);
    expect(doc.ok).toBe(false);
    expect(doc.results.find((x: { channel: string }) => x.channel === 'webhook:audit')).toMatchObject({ ok: false, attempts: 3 });
    for (const s of Object.values(env)) expect(r.stdout + r.stderr + j.stdout).not.toContain(s);
  });

  it('without --test it is a usage error (exit 2)', async () => {
    const p = makeProject(config('hook'));
    const r = await runCli(['notify'], { cwd: p.dir, env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: notify needs --test/);
  });
});
