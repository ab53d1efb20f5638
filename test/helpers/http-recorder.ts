/**
 * Local HTTP stand-ins for the notification services: a node:http server on 127.0.0.1 that
 * records every request (method, path with query, headers, raw body, parsed JSON or form) and
 * answers with scripted statuses and bodies. No mocks: the real client code talks HTTP to it.
 */
import http from 'node:http';
import net from 'node:net';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  raw: string;
  json: any;
  form?: Record<string, string>;
}

export interface HttpRecorder {
  url: string;
  requests: RecordedRequest[];
  /** answers by path prefix: status and body; `statuses[n]` answers the n-th request to a path (counted since `requests` was last emptied) */
  routes: Record<string, { statuses?: number[]; body?: unknown }>;
  close(): Promise<void>;
}

export async function httpRecorder(): Promise<HttpRecorder> {
  const rec = { requests: [] as RecordedRequest[], routes: {} } as HttpRecorder;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let json: any;
      try {
        json = JSON.parse(raw);
      } catch {
        json = undefined;
      }
      const form = /x-www-form-urlencoded/.test(req.headers['content-type'] ?? '') ? Object.fromEntries(new URLSearchParams(raw)) : undefined;
      const path = (req.url ?? '').split('?')[0];
      const n = rec.requests.filter((r) => r.url.split('?')[0] === path).length;
      rec.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, raw, json, form });
      const key = Object.keys(rec.routes)
        .filter((p) => path.startsWith(p))
        .sort((a, b) => b.length - a.length)[0];
      const route = key ? rec.routes[key] : undefined;
      const status = route?.statuses?.[n] ?? 200;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(status < 300 ? JSON.stringify(route?.body ?? { ok: true }) : JSON.stringify({ message: `error ${status}` }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  rec.url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  rec.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return rec;
}

/** Accepts connections and never answers: a service that hangs. */
export async function silentServer(): Promise<{ url: string; connections: () => number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let count = 0;
  const server = net.createServer((s) => {
    count++;
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    connections: () => count,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
