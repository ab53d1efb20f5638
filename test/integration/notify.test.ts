/**
 * Notifications against real local servers: node:http stand-ins for Slack, Discord, Telegram and
 * a webhook receiver, and real smtp-server instances (plain + AUTH, no AUTH, STARTTLS, implicit
 * TLS with a certificate made by the openssl CLI at test time). No mocks.
 */
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { notificationsSchema } from '../../src/config/schema.js';
import { clearSecrets, registerSecret } from '../../src/config/secrets.js';
import { formatResultsTable, NOTIFY_LEVELS, runNotifyTest, sendNotifications, type ChannelResult, type DeployEvent } from '../../src/notify/index.js';

const SECRET = 's3cr3t-XYZ';
const SLACK_PATH = '/services/T0001ABC/B0002DEF/slackTokenAbc123xyz';
const DISCORD_PATH = '/api/webhooks/123456789012345678/discordTokenAbcDef-123';
const BOT_TOKEN = '123456789:AAbotTokenXYZ-abc_def';
const HOOK_SECRET = 'hook-hmac-secret-42';

// ---------------------------------------------------------------------------------------------
// local servers

interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  raw: Buffer;
  json: any;
}

interface Recorder {
  url: string;
  port: number;
  requests: Received[];
  /** status for the n-th request (0-based); default 200 */
  statuses: number[];
  responseBody: string;
  /** body of non-2xx answers; default `error <status>` */
  errorBody?: string;
  close(): Promise<void>;
}

const toClose: Array<() => Promise<void>> = [];

async function recorder(): Promise<Recorder> {
  const rec = { requests: [] as Received[], statuses: [] as number[], responseBody: 'ok' } as Recorder;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      let json: any;
      try {
        json = JSON.parse(raw.toString('utf8'));
      } catch {
        json = undefined;
      }
      const n = rec.requests.length;
      rec.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, raw, json });
      const status = rec.statuses[n] ?? 200;
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status < 300 ? rec.responseBody : rec.errorBody ?? `error ${status}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  rec.port = (server.address() as net.AddressInfo).port;
  rec.url = `http://127.0.0.1:${rec.port}`;
  rec.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  toClose.push(rec.close);
  return rec;
}

/** accepts connections and never says a word */
async function deadServer(): Promise<{ port: number; connections: () => number }> {
  const sockets = new Set<net.Socket>();
  let count = 0;
  const server = net.createServer((s) => {
    count++;
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  toClose.push(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return { port: (server.address() as net.AddressInfo).port, connections: () => count };
}

/** a port nobody listens on */
async function refusedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

interface Mail {
  from: string;
  to: string[];
  user?: string;
  secure: boolean;
  raw: string;
  subject: string;
  text: string;
  html: string;
  headers: Record<string, string>;
}

async function smtp(options: Partial<SMTPServerOptions>): Promise<{ port: number; mails: Mail[] }> {
  const mails: Mail[] = [];
  const server = new SMTPServer({
    logger: false,
    allowInsecureAuth: true,
    ...options,
    onAuth(auth, _session, cb) {
      if (auth.username === 'ci' && auth.password === 'mail-pass-1') cb(null, { user: 'ci' });
      else cb(new Error('Invalid username or password'));
    },
    onData(stream, session: SMTPServerSession, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('latin1');
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          user: session.user as string | undefined,
          secure: session.secure,
          raw,
          ...parseMime(raw),
        });
        cb();
      });
    },
  });
  server.on('error', () => {});
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.server.address() as net.AddressInfo).port;
  toClose.push(() => new Promise<void>((r) => server.close(() => r())));
  return { port, mails };
}

// --- a minimal MIME reader, enough for what nodemailer writes ---------------------------------

function decodeQP(s: string): string {
  const bytes = s.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

function decodeWords(s: string): string {
  return s.replace(/=\?utf-8\?([QB])\?([^?]*)\?=\s*/gi, (_, enc: string, data: string) =>
    enc.toUpperCase() === 'B' ? Buffer.from(data, 'base64').toString('utf8') : decodeQP(data.replace(/_/g, ' ')),
  );
}

function splitHead(block: string): { headers: Record<string, string>; body: string } {
  const i = block.indexOf('\r\n\r\n');
  const head = i < 0 ? block : block.slice(0, i);
  const body = i < 0 ? '' : block.slice(i + 4);
  const headers: Record<string, string> = {};
  for (const line of head.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const m = /^([^:]+):\s*(.*)$/.exec(line);
    if (m) headers[m[1].toLowerCase()] = m[2];
  }
  return { headers, body };
}

function decodeBody(headers: Record<string, string>, body: string): string {
  const cte = (headers['content-transfer-encoding'] ?? '7bit').toLowerCase();
  if (cte === 'quoted-printable') return decodeQP(body);
  if (cte === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  return Buffer.from(body, 'latin1').toString('utf8');
}

function parseMime(raw: string): { subject: string; text: string; html: string; headers: Record<string, string> } {
  const { headers, body } = splitHead(raw);
  let text = '';
  let html = '';
  const boundary = /boundary="?([^";]+)"?/i.exec(headers['content-type'] ?? '')?.[1];
  const parts = boundary ? body.split(`--${boundary}`).slice(1, -1) : [raw];
  for (const p of parts) {
    const part = splitHead(p.replace(/^\r\n/, ''));
    const decoded = decodeBody(part.headers, part.body).replace(/\r\n$/, '');
    if (/text\/html/i.test(part.headers['content-type'] ?? '')) html = decoded;
    else if (/text\/plain/i.test(part.headers['content-type'] ?? '')) text = decoded;
  }
  return { subject: decodeWords(headers.subject ?? ''), text: text.replace(/\r\n/g, '\n'), html, headers };
}

// ---------------------------------------------------------------------------------------------

const failureEvent: DeployEvent = {
  level: 'failure',
  action: 'deploy',
  project: 'shop',
  env: 'production',
  release: '20261122093000',
  previousRelease: '20261121170000',
  commit: '3f2c1ab9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3',
  hosts: ['web1', 'web2'],
  host: 'web2',
  user: 'alice',
  durationMs: 12_345,
  error: `before_switch hook failed: echo token=${SECRET} && exit 1`,
  url: 'http://127.0.0.1:9/health',
  status: 'failed',
  timestamp: '2026-11-22T09:30:12.000Z',
};

const EXPECTED_MESSAGE = 'shop deploy to production by alice failed on web2 after 12.3s: before_switch hook failed: echo token=*** && exit 1';

function cfg(input: Record<string, unknown>) {
  return notificationsSchema.parse(input);
}

function expectNoSecret(...texts: unknown[]) {
  for (const t of texts) {
    const s = typeof t === 'string' ? t : Buffer.isBuffer(t) ? t.toString('utf8') : JSON.stringify(t);
    expect(s).not.toContain(SECRET);
  }
}

function byChannel(results: ChannelResult[], channel: string): ChannelResult {
  const r = results.find((x) => x.channel === channel);
  if (!r) throw new Error(`no result for ${channel} in ${JSON.stringify(results)}`);
  return r;
}

let certDir: string;
let tlsKey: string;
let tlsCert: string;

beforeAll(() => {
  certDir = mkdtempSync(path.join(os.tmpdir(), 'ee-notify-tls-'));
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1', '-subj', '/CN=localhost'],
    { cwd: certDir, stdio: 'ignore' },
  );
  tlsKey = readFileSync(path.join(certDir, 'key.pem'), 'utf8');
  tlsCert = readFileSync(path.join(certDir, 'cert.pem'), 'utf8');
});

afterEach(async () => {
  clearSecrets();
  while (toClose.length) await toClose.pop()!();
});

afterAll(() => rmSync(certDir, { recursive: true, force: true }));

describe('HTTP channels: exact payloads', () => {
  it('sends Slack, Discord, Telegram and a signed webhook, with no secret anywhere', async () => {
    registerSecret(SECRET);
    registerSecret(HOOK_SECRET);
    registerSecret(BOT_TOKEN);
    const slack = await recorder();
    const discord = await recorder();
    const telegram = await recorder();
    telegram.responseBody = '{"ok":true,"result":{}}';
    const hook = await recorder();
    const config = cfg({
      on: ['failure'],
      timeout: '2s',
      slack: { webhook_url: slack.url + SLACK_PATH },
      discord: { webhook_url: discord.url + DISCORD_PATH },
      telegram: { bot_token: BOT_TOKEN, chat_id: '-100123', api_url: telegram.url },
      webhooks: [{ url: `${hook.url}/deploy?token=abc`, name: 'ops', secret: HOOK_SECRET, signature_header: 'X-Hub-Signature-256', headers: { Authorization: 'Bearer tok-1' } }],
    });

    const results = await sendNotifications(config, failureEvent);

    expect(results.map((r) => [r.channel, r.ok, r.attempts, r.error])).toEqual([
      ['slack', true, 1, undefined],
      ['discord', true, 1, undefined],
      ['telegram', true, 1, undefined],
      ['webhook:ops', true, 1, undefined],
    ]);
    for (const r of results) expect(r.durationMs).toBeGreaterThanOrEqual(0);

    // Slack: Block Kit inside a coloured attachment, mrkdwn-escaped
    expect(slack.requests).toHaveLength(1);
    expect(slack.requests[0].method).toBe('POST');
    expect(slack.requests[0].url).toBe(SLACK_PATH);
    expect(slack.requests[0].headers['content-type']).toBe('application/json; charset=utf-8');
    const slackMessage = EXPECTED_MESSAGE.replace(/&/g, '&amp;');
    expect(slack.requests[0].json).toEqual({
      text: `shop production: deploy FAILED: ${slackMessage}`,
      attachments: [
        {
          color: '#E01E5A',
          blocks: [
            { type: 'section', text: { type: 'mrkdwn', text: `*shop production: deploy FAILED*\n${slackMessage}` } },
            {
              type: 'context',
              elements: [
                {
                  type: 'mrkdwn',
                  text:
                    'release: 20261122093000 · previous release: 20261121170000 · commit: 3f2c1ab · by: alice · duration: 12.3s · ' +
                    'hosts: web1, web2 · failing host: web2 · url: http://127.0.0.1:9/health',
                },
              ],
            },
          ],
        },
      ],
    });

    // Discord: one embed with the level colour, no mentions
    expect(discord.requests).toHaveLength(1);
    expect(discord.requests[0].url).toBe(DISCORD_PATH);
    expect(discord.requests[0].json).toEqual({
      username: 'ee-deploy',
      allowed_mentions: { parse: [] },
      embeds: [
        {
          title: 'shop production: deploy FAILED',
          description: EXPECTED_MESSAGE,
          color: 0xe01e5a,
          fields: [
            { name: 'Release', value: '20261122093000', inline: true },
            { name: 'Previous release', value: '20261121170000', inline: true },
            { name: 'Commit', value: '3f2c1ab', inline: true },
            { name: 'By', value: 'alice', inline: true },
            { name: 'Duration', value: '12.3s', inline: true },
            { name: 'Hosts', value: 'web1, web2', inline: true },
            { name: 'Failing host', value: 'web2', inline: true },
            { name: 'URL', value: 'http://127.0.0.1:9/health', inline: false },
          ],
          timestamp: '2026-11-22T09:30:12.000Z',
        },
      ],
    });

    // Telegram: sendMessage on the bot path, plain text
    expect(telegram.requests).toHaveLength(1);
    expect(telegram.requests[0].url).toBe(`/bot${BOT_TOKEN}/sendMessage`);
    expect(telegram.requests[0].json).toEqual({
      chat_id: '-100123',
      text: `❌ shop production: deploy FAILED\n${EXPECTED_MESSAGE}`,
      link_preview_options: { is_disabled: true },
    });

    // generic webhook: the full event plus text, HMAC over the exact bytes
    const h = hook.requests[0];
    expect(h.method).toBe('POST');
    expect(h.url).toBe('/deploy?token=abc');
    expect(h.headers.authorization).toBe('Bearer tok-1');
    expect(h.json).toEqual({ text: EXPECTED_MESSAGE, ...failureEvent, error: 'before_switch hook failed: echo token=*** && exit 1' });
    expect(Object.keys(h.json)[0]).toBe('text');
    const expectedSig = `sha256=${createHmac('sha256', HOOK_SECRET).update(h.raw).digest('hex')}`;
    expect(h.headers['x-hub-signature-256']).toBe(expectedSig);
    expect(h.headers['x-ee-deploy-signature']).toBeUndefined();

    for (const r of [slack, discord, telegram, hook]) expectNoSecret(r.requests[0].raw);
    expectNoSecret(results, formatResultsTable(results));
    expect(h.raw.toString()).not.toContain(HOOK_SECRET);
  });

  it('colours each level (Slack attachment colour, Discord embed colour)', async () => {
    const slack = await recorder();
    const discord = await recorder();
    const config = cfg({ on: [...NOTIFY_LEVELS], slack: { webhook_url: slack.url + SLACK_PATH }, discord: { webhook_url: discord.url + DISCORD_PATH } });
    const expected = { started: '#439FE0', success: '#2EB67D', failure: '#E01E5A', rollback: '#F2994A', warning: '#ECB22E' } as const;
    for (const level of NOTIFY_LEVELS) {
      const results = await sendNotifications(config, { ...failureEvent, level, warnings: level === 'warning' ? ['disk 91% full on web1'] : undefined });
      expect(results.every((r) => r.ok)).toBe(true);
      expect(slack.requests.at(-1)!.json.attachments[0].color).toBe(expected[level]);
      expect(discord.requests.at(-1)!.json.embeds[0].color).toBe(parseInt(expected[level].slice(1), 16));
    }
    // the warning level lists the warnings
    expect(slack.requests.at(-1)!.json.attachments[0].blocks[1]).toEqual({ type: 'section', text: { type: 'mrkdwn', text: '*Warnings*\n• disk 91% full on web1' } });
    expect(discord.requests.at(-1)!.json.embeds[0].fields.at(-1)).toEqual({ name: 'Warnings', value: '• disk 91% full on web1', inline: false });
    expect(slack.requests[1].json.text).toBe(
      'shop production: deployed: shop release 20261122093000 (commit 3f2c1ab) is live on production, deployed by alice in 12.3s',
    );
  });

  it('uses configured templates, and a webhook template replaces only that webhook’s text', async () => {
    registerSecret(SECRET);
    const hook = await recorder();
    const plain = await recorder();
    const tg = await recorder();
    const config = cfg({
      templates: { failure: 'FAILED {{project}}@{{env}} on {{host}}: {{error}}' },
      telegram: { bot_token: BOT_TOKEN, chat_id: 42, api_url: `${tg.url}/` },
      webhooks: [{ url: hook.url, template: '{{project}} {{release}} by {{user}} ({{url}})', method: 'PUT' }, { url: plain.url }],
    });
    const results = await sendNotifications(config, failureEvent);
    expect(results.map((r) => r.channel)).toEqual(['telegram', `webhook:127.0.0.1:${hook.port}`, `webhook:127.0.0.1:${plain.port}`]);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(hook.requests[0].method).toBe('PUT');
    expect(hook.requests[0].json.text).toBe('shop 20261122093000 by alice (http://127.0.0.1:9/health)');
    expect(hook.requests[0].headers['x-ee-deploy-signature']).toBeUndefined();
    expect(plain.requests[0].json.text).toBe('FAILED shop@production on web2: before_switch hook failed: echo token=*** && exit 1');
    expect(tg.requests[0].url).toBe(`/bot${BOT_TOKEN}/sendMessage`);
    expect(tg.requests[0].json.chat_id).toBe('42');
    expect(tg.requests[0].json.text).toBe('❌ shop production: deploy FAILED\nFAILED shop@production on web2: before_switch hook failed: echo token=*** && exit 1');
  });

  it('returns nothing without a notifications section', async () => {
    expect(await sendNotifications(undefined, failureEvent)).toEqual([]);
    expect(await sendNotifications(cfg({}), failureEvent)).toEqual([]);
  });
});

describe('retries', () => {
  it('retries 5xx: 500, 500, 200 -> ok after 3 attempts', async () => {
    const slack = await recorder();
    slack.statuses = [500, 500, 200];
    const results = await sendNotifications(cfg({ slack: { webhook_url: slack.url + SLACK_PATH } }), failureEvent);
    expect(results).toEqual([{ channel: 'slack', ok: true, attempts: 3, durationMs: expect.any(Number) }]);
    expect(slack.requests).toHaveLength(3);
    // backoff 200ms + 400ms
    expect(results[0].durationMs).toBeGreaterThanOrEqual(550);
    expect(results[0].durationMs).toBeLessThan(3000);
  });

  it('gives up after 3 attempts of 5xx, without printing the webhook URL', async () => {
    const discord = await recorder();
    discord.statuses = [503, 503, 503, 503];
    const [r] = await sendNotifications(cfg({ discord: { webhook_url: discord.url + DISCORD_PATH } }), failureEvent);
    expect(r).toMatchObject({ channel: 'discord', ok: false, attempts: 3, error: 'HTTP 503 (error 503)' });
    expect(discord.requests).toHaveLength(3);
  });

  it('does not retry 4xx', async () => {
    const slack = await recorder();
    const tg = await recorder();
    slack.statuses = [400, 200];
    tg.statuses = [403, 200];
    const hook = await recorder();
    hook.statuses = [404];
    // error bodies that echo secrets: a registered one, and the bot token (not registered here)
    registerSecret(SECRET);
    slack.errorBody = `invalid_payload near ${SECRET}`;
    tg.errorBody = `no route for /bot${BOT_TOKEN}/sendMessage`;
    const results = await sendNotifications(
      cfg({ slack: { webhook_url: slack.url + SLACK_PATH }, telegram: { bot_token: BOT_TOKEN, chat_id: '1', api_url: tg.url }, webhooks: [{ url: hook.url + '/x' }] }),
      failureEvent,
    );
    expect(results.map((r) => [r.channel, r.ok, r.attempts, r.error])).toEqual([
      ['slack', false, 1, 'HTTP 400 (invalid_payload near ***)'],
      ['telegram', false, 1, 'HTTP 403 (no route for /***/sendMessage)'],
      [`webhook:127.0.0.1:${hook.port}`, false, 1, 'HTTP 404 (error 404)'],
    ]);
    expect(slack.requests).toHaveLength(1);
    expect(tg.requests).toHaveLength(1);
  });

  it('reports the reason an API gives in JSON (Telegram description)', async () => {
    const tg = await recorder();
    tg.statuses = [400];
    // the recorder answers "error 400"; use a server that answers like Telegram
    const server = http.createServer((_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: false, error_code: 400, description: 'Bad Request: chat not found' }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    toClose.push(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as net.AddressInfo).port;
    const [r] = await sendNotifications(cfg({ telegram: { bot_token: BOT_TOKEN, chat_id: '1', api_url: `http://127.0.0.1:${port}` } }), failureEvent);
    expect(r).toMatchObject({ channel: 'telegram', ok: false, attempts: 1, error: 'HTTP 400 (Bad Request: chat not found)' });
  });

  it('retries connection refused, then reports it without URL secrets', async () => {
    const port = await refusedPort();
    const results = await sendNotifications(
      cfg({
        slack: { webhook_url: `http://127.0.0.1:${port}${SLACK_PATH}` },
        telegram: { bot_token: BOT_TOKEN, chat_id: '1', api_url: `http://127.0.0.1:${port}` },
        webhooks: [{ url: `http://127.0.0.1:${port}/hook/abcdef0123456789`, name: 'ci' }],
        email: { host: '127.0.0.1', port, from: 'deploy@example.com', to: 'ops@example.com' },
      }),
      failureEvent,
    );
    expect(results.map((r) => [r.channel, r.ok, r.attempts, r.error])).toEqual([
      ['slack', false, 3, 'connection refused'],
      ['email', false, 3, 'connection refused'],
      ['telegram', false, 3, 'connection refused'],
      ['webhook:ci', false, 3, 'connection refused'],
    ]);
    const all = JSON.stringify(results) + formatResultsTable(results);
    for (const s of ['slackTokenAbc123xyz', 'T0001ABC', BOT_TOKEN, 'abcdef0123456789']) expect(all).not.toContain(s);
  });
});

describe('level filtering', () => {
  it('applies the global `on`, and a channel `on` overrides it', async () => {
    const slack = await recorder();
    const discord = await recorder();
    const hook = await recorder();
    const config = cfg({
      on: ['success'],
      slack: { webhook_url: slack.url + SLACK_PATH, on: ['failure', 'rollback'] },
      discord: { webhook_url: discord.url + DISCORD_PATH },
      webhooks: [{ url: hook.url, name: 'all', on: [...NOTIFY_LEVELS] }],
    });

    const onFailure = await sendNotifications(config, failureEvent);
    expect(onFailure.map((r) => [r.channel, r.ok, !!r.skipped, r.attempts])).toEqual([
      ['slack', true, false, 1],
      ['discord', true, true, 0],
      ['webhook:all', true, false, 1],
    ]);
    expect([slack.requests.length, discord.requests.length, hook.requests.length]).toEqual([1, 0, 1]);

    const onSuccess = await sendNotifications(config, { ...failureEvent, level: 'success', error: undefined, host: undefined });
    expect(onSuccess.map((r) => [r.channel, !!r.skipped])).toEqual([
      ['slack', true],
      ['discord', false],
      ['webhook:all', false],
    ]);
    expect([slack.requests.length, discord.requests.length, hook.requests.length]).toEqual([1, 1, 2]);

    const onStarted = await sendNotifications(config, { ...failureEvent, level: 'started' });
    expect(onStarted.map((r) => [r.channel, !!r.skipped])).toEqual([
      ['slack', true],
      ['discord', true],
      ['webhook:all', false],
    ]);

    // the default global `on` is success, failure, rollback
    const defaults = cfg({ discord: { webhook_url: discord.url + DISCORD_PATH } });
    expect((await sendNotifications(defaults, { ...failureEvent, level: 'started' }))[0].skipped).toBe(true);
    expect((await sendNotifications(defaults, { ...failureEvent, level: 'warning' }))[0].skipped).toBe(true);
    expect((await sendNotifications(defaults, { ...failureEvent, level: 'rollback' }))[0].skipped).toBeUndefined();

    // ignoreLevelFilter sends everywhere
    const forced = await sendNotifications(config, { ...failureEvent, level: 'started' }, { ignoreLevelFilter: true });
    expect(forced.every((r) => r.ok && !r.skipped && r.attempts === 1)).toBe(true);
  });

  it('notify --test sends a test message to every channel regardless of `on`', async () => {
    const slack = await recorder();
    const hook = await recorder();
    const mail = await smtp({ disabledCommands: ['STARTTLS', 'AUTH'], authOptional: true });
    const config = cfg({
      on: [],
      slack: { webhook_url: slack.url + SLACK_PATH, on: [] },
      email: { host: '127.0.0.1', port: mail.port, from: 'deploy@example.com', to: ['ops@example.com'], subject: '{{project}} custom' },
      webhooks: [{ url: hook.url, name: 'h', template: '{{project}} custom' }],
    });
    const results = await runNotifyTest(config, { project: 'shop', env: 'production', user: 'alice', hosts: ['web1'] });
    expect(results.map((r) => [r.channel, r.ok, r.attempts])).toEqual([
      ['slack', true, 1],
      ['email', true, 1],
      ['webhook:h', true, 1],
    ]);
    expect(slack.requests[0].json.text).toBe('shop production: test notification: Test notification from ee-deploy for shop (production), sent by alice');
    expect(hook.requests[0].json).toMatchObject({ text: 'Test notification from ee-deploy for shop (production), sent by alice', action: 'test', level: 'success', status: 'test' });
    expect(mail.mails[0].subject).toBe('[ee-deploy] shop production: test notification');
    const table = formatResultsTable(results).split('\n');
    expect(table[0]).toMatch(/^CHANNEL\s+RESULT\s+ATTEMPTS\s+TIME\s+ERROR$/);
    expect(table[1]).toMatch(/^slack\s+ok\s+1\s+\d/);
  });
});

describe('e-mail over SMTP', () => {
  it('sends plain-text and HTML to several recipients with AUTH (no STARTTLS offered)', async () => {
    registerSecret(SECRET);
    registerSecret('mail-pass-1');
    const mail = await smtp({ disabledCommands: ['STARTTLS'], authMethods: ['PLAIN', 'LOGIN'] });
    const config = cfg({
      email: { host: '127.0.0.1', port: mail.port, user: 'ci', pass: 'mail-pass-1', from: 'deploy@example.com', to: ['ops@example.com', 'dev@example.com'] },
    });
    const results = await sendNotifications(config, failureEvent);
    expect(results).toEqual([{ channel: 'email', ok: true, attempts: 1, durationMs: expect.any(Number) }]);
    expect(mail.mails).toHaveLength(1);
    const m = mail.mails[0];
    expect(m.user).toBe('ci');
    expect(m.secure).toBe(false);
    expect(m.from).toBe('deploy@example.com');
    expect(m.to).toEqual(['ops@example.com', 'dev@example.com']);
    expect(m.subject).toBe('[ee-deploy] shop production: deploy FAILED (20261122093000)');
    expect(m.headers['x-ee-deploy-level']).toBe('failure');
    expect(m.text).toContain(`shop production: deploy FAILED\n\n${EXPECTED_MESSAGE}\n`);
    expect(m.text).toContain('Failing host: web2\n');
    expect(m.text).toContain('Commit: 3f2c1ab\n');
    expect(m.html).toContain('border-left:4px solid #E01E5A');
    expect(m.html).toContain(EXPECTED_MESSAGE.replace(/&/g, '&amp;'));
    expect(m.html).toContain('<th align="left" valign="top" style="padding:2px 12px 2px 0;color:#555">Failing host</th>');
    expectNoSecret(m.subject, m.text, m.html, m.raw, results);
    expect(m.raw).not.toContain('mail-pass-1');
  });

  it('sends without AUTH to a server that has none', async () => {
    const mail = await smtp({ disabledCommands: ['STARTTLS', 'AUTH'], authOptional: true });
    const config = cfg({
      email: { host: '127.0.0.1', port: mail.port, from: 'deploy@example.com', to: 'ops@example.com', subject: '{{project}}/{{env}} {{release}}: {{error}}' },
    });
    const [r] = await sendNotifications(config, { ...failureEvent, level: 'success', error: 'line one\nline two' });
    expect(r).toMatchObject({ channel: 'email', ok: true, attempts: 1 });
    expect(mail.mails[0].user).toBeUndefined();
    expect(mail.mails[0].to).toEqual(['ops@example.com']);
    expect(mail.mails[0].subject).toBe('shop/production 20261122093000: line one line two');
  });

  it('reports a wrong password once (no retry) without the password', async () => {
    registerSecret('wrong-pass-9');
    const mail = await smtp({ disabledCommands: ['STARTTLS'] });
    const config = cfg({ email: { host: '127.0.0.1', port: mail.port, user: 'ci', pass: 'wrong-pass-9', from: 'deploy@example.com', to: 'ops@example.com' } });
    const [r] = await sendNotifications(config, failureEvent);
    expect(r.ok).toBe(false);
    expect(r.attempts).toBe(1);
    expect(r.error).toMatch(/^authentication failed \(SMTP 535\b/);
    expect(r.error).not.toContain('wrong-pass-9');
    expect(mail.mails).toHaveLength(0);
  });

  it('upgrades with STARTTLS when the server offers it', async () => {
    const mail = await smtp({ key: tlsKey, cert: tlsCert });
    const config = cfg({
      email: { host: '127.0.0.1', port: mail.port, user: 'ci', pass: 'mail-pass-1', from: 'deploy@example.com', to: 'ops@example.com', insecure: true },
    });
    const [r] = await sendNotifications(config, failureEvent);
    expect(r).toMatchObject({ channel: 'email', ok: true, attempts: 1 });
    expect(mail.mails[0].secure).toBe(true);
    expect(mail.mails[0].user).toBe('ci');
  });

  it('speaks implicit TLS with `secure: true`, and refuses an unverifiable certificate unless `insecure`', async () => {
    const mail = await smtp({ secure: true, key: tlsKey, cert: tlsCert });
    const base = { host: '127.0.0.1', port: mail.port, secure: true, user: 'ci', pass: 'mail-pass-1', from: 'deploy@example.com', to: ['ops@example.com'] };
    const [ok] = await sendNotifications(cfg({ email: { ...base, insecure: true } }), failureEvent);
    expect(ok).toMatchObject({ channel: 'email', ok: true, attempts: 1 });
    expect(mail.mails).toHaveLength(1);
    expect(mail.mails[0].secure).toBe(true);
    expect(mail.mails[0].user).toBe('ci');

    const [bad] = await sendNotifications(cfg({ email: base }), failureEvent);
    expect(bad.ok).toBe(false);
    expect(bad.attempts).toBe(1);
    expect(bad.error).toMatch(/^TLS error: self[- ]signed certificate/);
    expect(mail.mails).toHaveLength(1);
  });
});

describe('a dead channel', () => {
  it('adds at most its timeout (plus backoff) to the run; the others still succeed', async () => {
    const dead = await deadServer();
    const slack = await recorder();
    const config = cfg({
      timeout: '600ms',
      slack: { webhook_url: slack.url + SLACK_PATH },
      discord: { webhook_url: `http://127.0.0.1:${dead.port}${DISCORD_PATH}` },
      email: { host: '127.0.0.1', port: dead.port, from: 'deploy@example.com', to: 'ops@example.com' },
      webhooks: [{ url: `http://127.0.0.1:${dead.port}/hook`, name: 'dead' }],
    });
    const t0 = performance.now();
    const results = await sendNotifications(config, failureEvent);
    const elapsed = performance.now() - t0;

    expect(byChannel(results, 'slack')).toMatchObject({ ok: true, attempts: 1 });
    for (const ch of ['discord', 'email', 'webhook:dead']) {
      const r = byChannel(results, ch);
      expect(r.ok).toBe(false);
      expect(r.error).toBe('timed out after 600ms');
      expect(r.attempts).toBe(1);
      expect(r.durationMs).toBeGreaterThanOrEqual(550);
      expect(r.durationMs).toBeLessThan(600 + 600 + 500);
    }
    expect(dead.connections()).toBeGreaterThanOrEqual(3);
    // concurrent: the whole run is one timeout, not three
    expect(elapsed).toBeGreaterThanOrEqual(550);
    expect(elapsed).toBeLessThan(600 + 600 + 1000);
    expectNoSecret(results);
    expect(JSON.stringify(results)).not.toContain('discordTokenAbcDef');
  });

  it('stops waiting when the caller aborts', async () => {
    const dead = await deadServer();
    const ac = new AbortController();
    const t0 = performance.now();
    setTimeout(() => ac.abort(), 150);
    const [r] = await sendNotifications(cfg({ timeout: '5s', webhooks: [{ url: `http://127.0.0.1:${dead.port}/x`, name: 'd' }] }), failureEvent, { signal: ac.signal });
    expect(r).toMatchObject({ channel: 'webhook:d', ok: false, attempts: 1, error: 'aborted' });
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});
