/**
 * Step 2 of connecting, started early: a host's TCP connection, opened before ssh2 is loaded (its
 * modules take tens of ms to initialise) and before the host-key and auth set-up: the server's
 * side of accepting a connection (sshd forks and re-executes itself) then overlaps our own
 * start-up instead of following it. ssh2 speaks SSH over the socket once it is ready.
 *
 * Only for hosts reached directly (no ProxyJump, no ProxyCommand). A socket that failed or closed in the meantime
 * is dropped and ssh2 dials afresh, so every connection error reads exactly as without this.
 */
import net from 'node:net';
import type { ResolvedHost } from '../../config/resolve.js';
import { resolveRoute, type Hop, type SshConfigSource } from './ssh-config.js';

export interface EarlySocket {
  /** absent for a host reached through jump hosts or a ProxyCommand */
  socket?: net.Socket;
  /**
   * the host's resolved route: connectSsh uses it instead of resolving again (ssh config is then
   * evaluated once per connection, so a `Match exec` command runs once, as with ssh)
   */
  route: Hop[];
  failed: boolean;
}

export function predial(host: ResolvedHost, source: SshConfigSource = {}): EarlySocket | undefined {
  if (host.local) return undefined;
  let route;
  try {
    route = resolveRoute(host, source);
  } catch {
    return undefined; // the real connect reports it
  }
  const { settings } = route[0];
  if (route.length !== 1 || settings.proxyCommand !== undefined) return { route, failed: true };
  const socket = net.connect({
    host: settings.hostName,
    port: settings.port,
    ...(settings.addressFamily ? { family: settings.addressFamily === 'inet' ? 4 : 6 } : {}),
    ...(settings.bindAddress ? { localAddress: settings.bindAddress } : {}),
  });
  const early: EarlySocket = { socket, route, failed: false };
  // no one else listens yet: without this an early refusal would be an uncaught 'error'
  socket.on('error', () => {
    early.failed = true;
  });
  socket.on('close', () => {
    early.failed = true;
  });
  socket.setNoDelay(true);
  return early;
}

/** The early socket, if it is still usable; otherwise it is closed. */
export function takeEarly(early: EarlySocket | undefined): net.Socket | undefined {
  if (!early?.socket) return undefined;
  if (early.failed || early.socket.destroyed) {
    early.socket.destroy();
    return undefined;
  }
  return early.socket;
}
