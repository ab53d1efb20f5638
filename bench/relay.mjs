// A user-space WAN link for the benchmark (the kernel here has no netem): a TCP relay on
// 127.0.0.1 that forwards each connection to a target port, delaying every chunk by RTT/2 per
// direction (order kept) and capping each direction's throughput with a token bucket.
//
//   import { startRelay, probeRelay } from './relay.mjs'
//   const relay = await startRelay({ targetPort: 2222, rttMs: 40, mbit: 100 })
//   ... connect to relay.port ...; relay.close()
//
//   node bench/relay.mjs --probe [--rtt 40] [--mbit 100]   measures a relay against an echo server
//   node bench/relay.mjs --serve --targets 2222,2223 [--rtt 40] [--mbit 100]
//       one relay per target port, in this process (apart from the benchmark's own timing);
//       prints {"ports":[...]} once listening, then a stats line per "stats" line on stdin
//
// Model: a chunk that arrives at t is released at max(t + RTT/2, previous release + its own
// serialisation time at the capped rate): a one-way delay plus a bottleneck link, the two things
// a 20-100 ms link adds. Backpressure: a direction holding more than `bufferBytes` in flight
// pauses its reading side (as a full TCP window would), so memory stays bounded.
import net from 'node:net';

/**
 * @param {{ targetPort: number, targetHost?: string, rttMs?: number, mbit?: number, bufferBytes?: number }} o
 */
export function startRelay(o) {
  const rttMs = o.rttMs ?? 40;
  const bytesPerMs = ((o.mbit ?? 100) * 1e6) / 8 / 1000;
  const bufferBytes = o.bufferBytes ?? 4 << 20;
  const sockets = new Set();
  const stats = { connections: 0, bytesUp: 0, bytesDown: 0 };

  /** one direction: from `src` to `dst` through the delay line */
  function pipe(src, dst, count) {
    const queue = [];
    let inFlight = 0;
    let lastRelease = 0;
    let timer = null;
    let ended = false;
    const pump = () => {
      timer = null;
      const now = performance.now();
      while (queue.length && queue[0].at <= now) {
        const { chunk } = queue.shift();
        inFlight -= chunk.length;
        if (!dst.destroyed) dst.write(chunk);
      }
      if (inFlight < bufferBytes / 2 && src.isPaused()) src.resume();
      if (queue.length) timer = setTimeout(pump, Math.max(0, queue[0].at - performance.now()));
      else if (ended && !dst.destroyed) dst.end();
    };
    src.on('data', (chunk) => {
      count(chunk.length);
      const now = performance.now();
      const at = Math.max(now + rttMs / 2, lastRelease + chunk.length / bytesPerMs);
      lastRelease = at;
      queue.push({ chunk, at });
      inFlight += chunk.length;
      if (inFlight > bufferBytes) src.pause();
      if (!timer) timer = setTimeout(pump, Math.max(0, queue[0].at - now));
    });
    src.on('end', () => {
      ended = true;
      if (!queue.length && !timer && !dst.destroyed) dst.end();
    });
  }

  const server = net.createServer((client) => {
    stats.connections++;
    const upstream = net.connect(o.targetPort, o.targetHost ?? '127.0.0.1');
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('close', () => setTimeout(() => upstream.destroy(), rttMs));
    upstream.on('close', () => setTimeout(() => client.destroy(), rttMs));
    pipe(client, upstream, (n) => (stats.bytesUp += n));
    pipe(upstream, client, (n) => (stats.bytesDown += n));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: server.address().port,
        rttMs,
        mbit: o.mbit ?? 100,
        stats,
        close: () =>
          new Promise((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}

/**
 * Measures a relay's round trip (median of 20 one-byte echoes) and throughput (16 MiB sent,
 * timed until the echo server acknowledged the last byte) against a local echo server.
 */
export async function probeRelay(o = {}) {
  const echo = net.createServer((s) => {
    s.setNoDelay(true);
    let got = 0;
    s.on('data', (d) => {
      if (d.length === 1 && got === 0) s.write(d);
      else {
        got += d.length;
        if (got >= (16 << 20)) s.write('k');
      }
    });
  });
  await new Promise((r) => echo.listen(0, '127.0.0.1', r));
  const relay = await startRelay({ ...o, targetPort: echo.address().port });
  try {
    const rtts = [];
    for (let i = 0; i < 20; i++) {
      const s = net.connect(relay.port, '127.0.0.1');
      s.setNoDelay(true);
      await new Promise((r) => s.once('connect', r));
      const t0 = performance.now();
      s.write('x');
      await new Promise((r) => s.once('data', r));
      rtts.push(performance.now() - t0);
      s.destroy();
    }
    rtts.sort((a, b) => a - b);
    const s = net.connect(relay.port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    s.write(Buffer.alloc(1)); // the one-byte echo first, so the bulk below is counted as bulk
    await new Promise((r) => s.once('data', r));
    const t0 = performance.now();
    const block = Buffer.alloc(1 << 20, 7);
    for (let i = 0; i < 16; i++) if (!s.write(block)) await new Promise((r) => s.once('drain', r));
    await new Promise((r) => s.once('data', r));
    const seconds = (performance.now() - t0) / 1000;
    s.destroy();
    // the last byte's one-way delay and the ack's are not throughput
    const mbit = (16 * 8 * 1.048576) / Math.max(1e-3, seconds - rtts[10] / 1000);
    return { rttMs: rtts[10], mbit };
  } finally {
    await relay.close();
    echo.close();
  }
}

const main = process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop());
const arg = (n, d) => {
  const i = process.argv.indexOf(`--${n}`);
  return i > 0 ? process.argv[i + 1] : d;
};
if (main && process.argv.includes('--probe')) {
  const r = await probeRelay({ rttMs: Number(arg('rtt', 40)), mbit: Number(arg('mbit', 100)) });
  console.log(`relay measured: rtt ${r.rttMs.toFixed(1)} ms, throughput ${r.mbit.toFixed(1)} Mbit/s`);
}
if (main && process.argv.includes('--serve')) {
  const o = { rttMs: Number(arg('rtt', 40)), mbit: Number(arg('mbit', 100)) };
  const relays = await Promise.all(arg('targets', '').split(',').filter(Boolean).map((p) => startRelay({ ...o, targetPort: Number(p) })));
  console.log(JSON.stringify({ ports: relays.map((r) => r.port) }));
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (d) => {
    if (d.includes('stats')) {
      const sum = relays.reduce((a, r) => ({ connections: a.connections + r.stats.connections, bytesUp: a.bytesUp + r.stats.bytesUp, bytesDown: a.bytesDown + r.stats.bytesDown }), { connections: 0, bytesUp: 0, bytesDown: 0 });
      console.log(JSON.stringify(sum));
    }
  });
  process.stdin.on('end', () => process.exit(0));
}
