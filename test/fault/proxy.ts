/**
 * A loopback TCP proxy for fault injection: ee-deploy connects to it (an ssh config Host whose
 * HostName/Port point here; the host key stays the sshd's) and it forwards to the real sshd.
 * It can cut every live connection at once, or once the client has sent N bytes, and keeps
 * accepting new connections afterwards (a network blip, not a dead host).
 */
import net from 'node:net';

export interface Proxy {
  port: number;
  /** client -> server bytes of the connections so far */
  sent: number;
  /** destroy every live connection now */
  cutNow(): number;
  /** destroy a connection once it has carried more than `bytes` from the client (then disarm) */
  cutAfter(bytes: number): void;
  /** connections accepted so far */
  accepted: number;
  close(): Promise<void>;
}

export function startProxy(targetPort: number): Promise<Proxy> {
  const live = new Set<{ a: net.Socket; b: net.Socket }>();
  let cutAt: number | undefined;
  const proxy: Proxy = {
    port: 0,
    sent: 0,
    accepted: 0,
    cutNow() {
      const n = live.size;
      for (const p of [...live]) {
        p.a.destroy();
        p.b.destroy();
      }
      live.clear();
      return n;
    },
    cutAfter(bytes) {
      cutAt = bytes;
    },
    close: () => new Promise<void>((r) => (proxy.cutNow(), server.close(() => r()))),
  };
  const server = net.createServer((a) => {
    proxy.accepted++;
    const b = net.connect(targetPort, '127.0.0.1');
    const pair = { a, b };
    live.add(pair);
    let mine = 0;
    a.on('data', (d: Buffer) => {
      mine += d.length;
      proxy.sent += d.length;
      if (cutAt !== undefined && mine > cutAt) {
        cutAt = undefined;
        live.delete(pair);
        a.destroy();
        b.destroy();
        return;
      }
      if (!b.write(d)) a.pause();
    });
    b.on('drain', () => a.resume());
    b.on('data', (d: Buffer) => {
      if (!a.write(d)) b.pause();
    });
    a.on('drain', () => b.resume());
    const end = () => {
      live.delete(pair);
      a.destroy();
      b.destroy();
    };
    a.on('close', end).on('error', end);
    b.on('close', end).on('error', end);
  });
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      proxy.port = (server.address() as net.AddressInfo).port;
      resolve(proxy);
    });
  });
}
