/**
 * A bounded load generator for the traffic suites: keep-alive HTTP clients (a fixed pool of
 * sockets) sending GETs at a fixed rate to a loopback URL, recording every outcome with its time.
 * A connection error is any request that got no HTTP response (reset, refused, hang-up).
 *
 * Like a conforming HTTP client (RFC 9112 section 9.3.1: a connection closed prematurely may be
 * reopened and an idempotent request sent again), a GET whose connection was reset before any
 * response byte is sent once more on a new connection. nginx's reload produces exactly that:
 * its old workers close their idle keep-alive connections, and now and then reset a connection
 * they had just accepted; browsers and HTTP libraries retry those requests. Node's http client
 * leaves the retry to the caller. Retries are counted apart (`retried`, split by whether the
 * connection was a reused keep-alive one); a request that fails again is a connection error.
 */
import http from 'node:http';

export interface Sample {
  /** ms since the start */
  at: number;
  status: number;
  body: string;
  error?: string;
  /** sent again after its connection was reset before any response byte (reused: a keep-alive one) */
  retried?: 'reused' | 'fresh';
}

export interface LoadRun {
  samples: Sample[];
  /** stops sending, waits for the requests in flight; resolves with the samples */
  stop(): Promise<Sample[]>;
  startedAt: number;
}

export function startLoad(url: string, o: { rate: number; connections: number; maxRequests?: number }): LoadRun {
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.connections, keepAliveMsecs: 1000 });
  const samples: Sample[] = [];
  const startedAt = Date.now();
  const inflight = new Set<Promise<void>>();
  let sent = 0;
  let stopped = false;
  const attempt = (at: number, retried?: 'reused' | 'fresh'): Promise<void> =>
    new Promise<void>((resolve) => {
      let gotResponse = false;
      // the retry goes on a new connection (another idle one may be closing under it too)
      const req = http.get(url, { agent: retried ? false : agent, timeout: 10_000 }, (res) => {
        gotResponse = true;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => {
          samples.push({ at, status: res.statusCode ?? 0, body, ...(retried ? { retried } : {}) });
          resolve();
        });
        res.on('error', (e) => {
          samples.push({ at, status: res.statusCode ?? 0, body, error: `response: ${e.message}` });
          resolve();
        });
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (e: NodeJS.ErrnoException) => {
        if (!retried && !gotResponse && (e.code === 'ECONNRESET' || e.code === 'EPIPE')) return void attempt(at, req.reusedSocket ? 'reused' : 'fresh').then(resolve);
        samples.push({ at, status: 0, body: '', error: `${e.code ?? e.message}${retried ? ' (after a retry)' : ''}` });
        resolve();
      });
    });
  const one = () => {
    const p = attempt(Date.now() - startedAt);
    inflight.add(p);
    void p.then(() => inflight.delete(p));
  };
  const interval = 1000 / o.rate;
  // a fixed schedule (not "every N ms after the last"): timer drift does not lower the rate
  const tick = () => {
    if (stopped) return;
    const due = Math.floor((Date.now() - startedAt) / interval) + 1;
    while (sent < due && (o.maxRequests === undefined || sent < o.maxRequests)) {
      sent++;
      one();
    }
    timer = setTimeout(tick, Math.max(1, interval / 2));
  };
  let timer = setTimeout(tick, 0);
  return {
    samples,
    startedAt,
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      while (inflight.size) await Promise.all([...inflight]);
      agent.destroy();
      return samples;
    },
  };
}

export interface LoadSummary {
  requests: number;
  ok2xx: number;
  non2xx: number;
  connectionErrors: number;
  /** requests sent again after a reset before any response byte, then answered */
  retried: { reused: number; fresh: number };
  durationS: number;
  rate: number;
  errors: string[];
}

export function summarize(samples: Sample[]): LoadSummary {
  const last = samples.reduce((m, s) => Math.max(m, s.at), 0);
  const errs = samples.filter((s) => s.error);
  const non2xx = samples.filter((s) => !s.error && (s.status < 200 || s.status > 299));
  return {
    requests: samples.length,
    ok2xx: samples.length - errs.length - non2xx.length,
    non2xx: non2xx.length,
    connectionErrors: errs.length,
    retried: { reused: samples.filter((s) => s.retried === 'reused' && !s.error).length, fresh: samples.filter((s) => s.retried === 'fresh' && !s.error).length },
    durationS: Math.round(last / 100) / 10,
    rate: last > 0 ? Math.round((samples.length / (last / 1000)) * 10) / 10 : 0,
    errors: [...errs.map((s) => `${s.at}ms ${s.error}`), ...non2xx.map((s) => `${s.at}ms HTTP ${s.status} ${s.body.slice(0, 80)}`)].slice(0, 10),
  };
}
