/**
 * `webhook`: an HTTP endpoint for GitHub and GitLab push events (POST /). An authentic push to
 * the watched branch runs a pull-mode cycle (Watcher); pushes that arrive while one runs are
 * folded into one follow-up cycle. Every request is answered at once (GitHub gives up after
 * 10 s); deploys never overlap.
 *
 * Bad requests, in the order they are checked:
 *   not POST -> 405 | path other than / -> 404 | body over the limit -> 413 (read no further)
 *   neither GitHub nor GitLab headers, or a missing/wrong signature or token -> 401
 *   authentic but unreadable payload -> 400
 * Nothing is queued for any of them. An authentic request that is not a push to the branch
 * (ping, another event, another branch, a tag, a branch deletion) is answered 202 and ignored;
 * a delivery id seen before (a redelivery or replay) is answered 202 "duplicate" and ignored.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Coalescer } from './coalesce.js';
import { authenticate, deliveryId, detectSource, parseEvent, type PushSource } from './push-event.js';
import type { CycleResult, Watcher } from './watcher.js';

export const DEFAULT_MAX_BODY = 5 << 20;
/** delivery ids remembered for replay detection */
const SEEN_LIMIT = 1000;
/** how much of a refused body is still read (and dropped) so the client gets to see the 413 */
const DRAIN_FACTOR = 4;

export interface WebhookOptions {
  host: string;
  port: number;
  secret: string;
  branch: string;
  watcher: Pick<Watcher, 'cycle'>;
  maxBodyBytes?: number;
  /** one line per request and per cycle */
  log: (line: string) => void;
  onCycle?: (r: CycleResult) => void;
}

export interface RequestOutcome {
  status: number;
  body: Record<string, unknown>;
  /** the log line's text */
  note: string;
}

interface Trigger {
  source: PushSource;
  sha?: string;
  delivery?: string;
}

export class WebhookServer {
  private server?: http.Server;
  private readonly seen = new Set<string>();
  private readonly queue: Coalescer<Trigger>;
  private readonly max: number;

  constructor(private readonly o: WebhookOptions) {
    this.max = o.maxBodyBytes ?? DEFAULT_MAX_BODY;
    this.queue = new Coalescer(async (t, folded) => {
      const why = `${t.source} push${t.sha ? ` ${t.sha.slice(0, 12)}` : ''}${folded ? ` + ${folded} more folded in` : ''}`;
      const r = await this.o.watcher.cycle(why);
      this.o.onCycle?.(r);
    });
  }

  /** listens; resolves with the URL */
  async start(): Promise<string> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    // slow or stalled clients cannot hold connections open for long
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    server.keepAliveTimeout = 5_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port, this.o.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return this.url;
  }

  get url(): string {
    const a = this.server?.address() as AddressInfo | null;
    const host = a ? (a.family === 'IPv6' ? `[${a.address}]` : a.address) : this.o.host;
    return `http://${host}:${a?.port ?? this.o.port}/`;
  }

  /** a cycle is running or waiting */
  get busy(): boolean {
    return this.queue.busy;
  }

  /** resolves when no cycle runs or waits */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** stops accepting requests, drops a waiting cycle, waits for a running one (the caller aborts it) */
  async stop(): Promise<void> {
    const s = this.server;
    if (s) {
      const closed = new Promise<void>((r) => s.close(() => r()));
      s.closeIdleConnections();
      await this.queue.stop();
      s.closeAllConnections();
      await closed;
    } else await this.queue.stop();
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let out: RequestOutcome;
    try {
      out = await this.decide(req);
    } catch (e) {
      out = { status: 500, body: { error: 'internal error' }, note: `internal error: ${(e as Error).message}` };
    }
    const body = JSON.stringify(out.body) + '\n';
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' };
    if (out.status === 405) headers.allow = 'POST';
    // a refused body may still be arriving: close rather than read the rest
    if (out.status === 413) headers.connection = 'close';
    res.writeHead(out.status, headers);
    res.end(body);
    this.o.log(`${req.method ?? '?'} ${truncate(req.url ?? '', 60)} -> ${out.status}: ${out.note}`);
  }

  private async decide(req: http.IncomingMessage): Promise<RequestOutcome> {
    if (req.method !== 'POST') {
      req.resume();
      return { status: 405, body: { error: 'only POST is accepted' }, note: 'method not allowed' };
    }
    if ((req.url ?? '/').split('?')[0] !== '/') {
      req.resume();
      return { status: 404, body: { error: 'POST to / only' }, note: 'not found' };
    }
    const declared = Number(req.headers['content-length']);
    const tooLarge = (how: string): RequestOutcome => ({ status: 413, body: { error: `body larger than ${this.max} bytes` }, note: `body too large (${how})` });
    if (Number.isFinite(declared) && declared > this.max) {
      // a client still sending would see its write fail rather than the answer: take (and drop)
      // a moderately large rest first; beyond that, answer and close at once
      if (declared <= this.max * DRAIN_FACTOR) await drain(req, this.max * DRAIN_FACTOR);
      return tooLarge(`Content-Length ${declared}`);
    }
    const body = await readBody(req, this.max);
    if (body === 'too-large') {
      await drain(req, this.max * DRAIN_FACTOR);
      return tooLarge('streamed');
    }
    const source = detectSource(req.headers);
    if (!source) return { status: 401, body: { error: 'not a GitHub or GitLab webhook (no X-Hub-Signature-256 or X-Gitlab-Token)' }, note: 'unauthenticated: no GitHub or GitLab headers' };
    const auth = authenticate(source, req.headers, body, this.o.secret);
    if (!auth.ok) return { status: 401, body: { error: 'invalid signature' }, note: `unauthenticated ${source} request: ${auth.reason}` };
    let ev;
    try {
      ev = parseEvent(source, req.headers, body);
    } catch (e) {
      return { status: 400, body: { error: 'unreadable payload' }, note: `${source}: unreadable payload: ${(e as Error).message}` };
    }
    if (ev.kind === 'ping') return { status: 200, body: { status: 'pong' }, note: 'github ping' };
    if (ev.kind === 'other') return { status: 202, body: { status: 'ignored', reason: `event ${ev.name}` }, note: `${source} ${ev.name}: ignored (not a push)` };
    if (ev.branch !== this.o.branch || ev.deleted) {
      const what = ev.branch === undefined ? `${ev.ref} (not a branch)` : ev.deleted ? `deletion of ${ev.branch}` : `push to ${ev.branch}`;
      return { status: 202, body: { status: 'ignored', reason: `${what}; watching ${this.o.branch}` }, note: `${source} ${what}: ignored (watching ${this.o.branch})` };
    }
    const delivery = deliveryId(source, req.headers);
    if (delivery !== undefined) {
      if (this.seen.has(delivery)) return { status: 202, body: { status: 'duplicate', delivery }, note: `${source} push ${delivery}: duplicate delivery, ignored` };
      this.seen.add(delivery);
      if (this.seen.size > SEEN_LIMIT) this.seen.delete(this.seen.values().next().value as string);
    }
    const state = this.queue.request({ source, sha: ev.sha, delivery });
    const sha = ev.sha ? ` ${ev.sha.slice(0, 12)}` : '';
    return {
      status: 202,
      body: { status: state === 'started' ? 'deploying' : 'queued', branch: ev.branch, commit: ev.sha },
      note: `${source} push to ${ev.branch}${sha}${delivery ? ` (delivery ${truncate(delivery, 40)})` : ''}: ${state === 'started' ? 'cycle started' : 'queued behind the running cycle'}`,
    };
  }
}

/** reads and drops the rest of a refused body, up to `cap` bytes (or for at most 10 s) */
function drain(req: http.IncomingMessage, cap: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const t = setTimeout(finish, 10_000);
    function finish() {
      clearTimeout(t);
      req.off('data', onData);
      resolve();
    }
    function onData(c: Buffer) {
      seen += c.length;
      if (seen > cap) finish();
    }
    if (req.readableEnded) return finish();
    req.on('data', onData);
    req.once('end', finish);
    req.once('error', finish);
    req.once('close', finish);
    req.resume();
  });
}

/** the body, or 'too-large' as soon as it passes `max` bytes (the rest is left unread) */
function readBody(req: http.IncomingMessage, max: number): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    const onData = (c: Buffer) => {
      if (over) return;
      size += c.length;
      if (size > max) {
        over = true;
        chunks.length = 0;
        req.pause();
        req.off('data', onData);
        resolve('too-large');
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => !over && resolve(Buffer.concat(chunks)));
    req.on('error', (e) => !over && reject(e));
  });
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 3)}...` : s;
}
