/**
 * `ee-deploy dashboard`: Node's http server, one page, a JSON state endpoint, POST endpoints for
 * the buttons and server-sent events for run logs. Every request needs the random token printed
 * with the URL (compared in constant time); every change is a POST carrying the token in a header,
 * from the page's own origin (Origin and Host checked, so neither another site nor a DNS
 * rebinding can drive it).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { listApprovals } from '../deploy/approve.js';
import { isReleaseId } from '../remote/release-id.js';
import { pageHtml } from './page.js';
import { RunManager, type RunKind } from './runs.js';
import { loadTargets, readState, type DashboardState } from './state.js';

export interface DashboardOptions {
  /** project names; empty = every registered project */
  projects: string[];
  host: string;
  port: number;
  token?: string;
  connectTimeoutMs?: number;
  /** stops the runs in progress (they clean up as the CLI's do) */
  signal?: AbortSignal;
}

export interface Dashboard {
  url: string;
  token: string;
  server: Server;
  close(): Promise<void>;
}

const digest = (s: string) => createHash('sha256').update(s).digest();
export function tokenMatches(given: string | undefined, token: string): boolean {
  // hashing first gives equal lengths, so the comparison time says nothing about the token
  return given !== undefined && timingSafeEqual(digest(given), digest(token));
}

export function isLoopbackHost(h: string): boolean {
  return h === 'localhost' || h === '::1' || h === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

const MAX_BODY = 64 * 1024;

function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('request body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      try {
        const v = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as unknown;
        resolve(v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
      } catch {
        reject(new Error('the body is not JSON'));
      }
    });
    req.on('error', reject);
  });
}

export async function startDashboard(o: DashboardOptions): Promise<Dashboard> {
  const token = o.token ?? randomBytes(24).toString('base64url');
  let state: DashboardState | undefined;
  let refreshing: Promise<DashboardState> | undefined;
  const refresh = () =>
    (refreshing ??= readState(o.projects, { connectTimeoutMs: o.connectTimeoutMs }).then(
      (s) => {
        state = s;
        refreshing = undefined;
        return s;
      },
      (e: unknown) => {
        refreshing = undefined;
        throw e;
      },
    ));
  const runs = new RunManager(() => void refresh().catch(() => {}), o.signal);
  let origin = '';
  const hostHeaders = new Set<string>();

  const send = (res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8', extra: Record<string, string> = {}) => {
    res.writeHead(status, {
      'content-type': type,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      // the token is in the page's URL: never send it anywhere as a referrer
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
      ...extra,
    });
    res.end(body);
  };
  const json = (res: ServerResponse, status: number, v: unknown) => send(res, status, JSON.stringify(v), 'application/json; charset=utf-8');

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', origin);
    // a Host that is not ours: a DNS-rebinding page talking to us under another name
    if (!hostHeaders.has(req.headers.host ?? '')) return send(res, 421, 'unknown host\n');
    const given = (req.headers['x-ee-token'] as string | undefined) ?? url.searchParams.get('token') ?? undefined;
    if (!tokenMatches(given, token)) return send(res, 401, 'unauthorized: open the URL ee-deploy dashboard printed (it carries the token)\n', 'text/plain; charset=utf-8', { 'www-authenticate': 'Token' });
    if (req.method === 'GET' && url.pathname === '/') {
      const nonce = randomBytes(16).toString('base64');
      return send(res, 200, pageHtml(nonce), 'text/html; charset=utf-8', {
        'content-security-policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
      });
    }
    if (req.method === 'GET' && url.pathname === '/api/state') {
      const s = url.searchParams.get('refresh') === '1' || !state ? await refresh() : state;
      return json(res, 200, s);
    }
    const events = /^\/api\/runs\/([A-Za-z0-9_-]+)\/events$/.exec(url.pathname);
    if (req.method === 'GET' && events) {
      const log = runs.get(events[1]);
      if (!log) return send(res, 404, 'no such run\n');
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', connection: 'keep-alive' });
      const stop = log.follow((e) => {
        res.write(`event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
        if (e.type === 'end') res.end();
      });
      req.on('close', stop);
      return;
    }
    if (req.method === 'GET' && url.pathname === '/api/approvals') {
      // read on demand (the Approve dialog), not on every refresh: one more exec per host
      const t = (await loadTargets(o.projects)).targets.find((x) => x.project === url.searchParams.get('project') && x.env === url.searchParams.get('env'));
      if (!t) return json(res, 404, { error: 'no such project and environment on this dashboard' });
      try {
        const pending = await listApprovals(t.config, t.config.hosts, { interactive: false });
        return json(res, 200, pending.map((p) => ({ request: p.request, requester: p.requester, commit: p.commit, expires: p.expires, approvals: p.approvals.map((a) => a.user), needed: p.needed })));
      } catch (e) {
        return json(res, 502, { error: (e as Error).message });
      }
    }
    const action = /^\/api\/(deploy|rollback|lock|unlock|approve)$/.exec(url.pathname);
    if (action) {
      if (req.method !== 'POST') return send(res, 405, 'use POST\n', 'text/plain; charset=utf-8', { allow: 'POST' });
      // same origin only: browsers send Origin on every POST; the token must come in the header
      if (req.headers.origin !== `http://${req.headers.host}`) return send(res, 403, 'cross-origin request refused\n');
      if (!req.headers['x-ee-token']) return send(res, 403, 'the token must come in the x-ee-token header for changes\n');
      if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) return send(res, 415, 'send application/json\n');
      let body: Record<string, unknown>;
      try {
        body = await readBody(req);
      } catch (e) {
        return send(res, 400, `${(e as Error).message}\n`);
      }
      const { targets } = await loadTargets(o.projects);
      const t = targets.find((x) => x.project === body.project && x.env === body.env);
      if (!t) return json(res, 404, { error: `no project ${String(body.project)} with environment ${String(body.env)} on this dashboard` });
      const expect = typeof body.expect === 'string' ? body.expect : undefined;
      if (expect !== undefined && !isReleaseId(expect)) return json(res, 400, { error: 'invalid release id' });
      const message = typeof body.message === 'string' && body.message.trim() ? body.message.trim().slice(0, 500) : undefined;
      const request = typeof body.request === 'string' ? body.request : undefined;
      const log = runs.start({ kind: action[1] as RunKind, config: t.config, expect, message: message ?? `from the dashboard`, request });
      return json(res, 202, { run: log.id });
    }
    return send(res, 404, 'not found\n');
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) json(res, 500, { error: (e as Error).message });
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = o.host.includes(':') ? `[${o.host}]` : o.host;
  origin = `http://${shownHost}:${port}`;
  hostHeaders.add(`${shownHost}:${port}`);
  if (isLoopbackHost(o.host)) for (const h of ['localhost', '127.0.0.1', '[::1]']) hostHeaders.add(`${h}:${port}`);
  // the first page load is then served from a warm cache
  void refresh().catch(() => {});
  return {
    url: `${origin}/?token=${token}`,
    token,
    server,
    close: async () => {
      await runs.idle();
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
