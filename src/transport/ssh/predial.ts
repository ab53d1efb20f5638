/**
 * An early start on a host's TCP connection, opened before ssh2 is loaded (its modules take tens
 * of ms to initialise) and before the host-key and auth set-up: the server's side of accepting a
 * connection (sshd forks and re-executes itself) then overlaps our own start-up instead of
 * following it. ssh2 speaks SSH over the socket once it is ready.
 *
 * Only for hosts reached directly (no ProxyJump). A socket that failed or closed in the meantime
 * is dropped and ssh2 dials afresh, so every connection error reads exactly as without this.
 */
import net from 'node:net';
import type { ResolvedHost } from '../../config/resolve.js';
import { resolveSshHost, type SshConfigSource, type SshHostOverrides, type SshHostSettings } from './ssh-config.js';

export interface EarlySocket {
  socket: net.Socket;
  /** the host's resolved ssh settings: connectSsh uses them instead of reading ssh config again */
  settings: SshHostSettings;
  failed: boolean;
}

/** ee-deploy's own settings for a host, which win over ~/.ssh/config */
export function sshOverrides(host: ResolvedHost): SshHostOverrides {
  return {
    ...(host.user !== undefined ? { user: host.user } : {}),
    ...(host.port !== undefined ? { port: host.port } : {}),
    ...(host.identityFile !== undefined ? { identityFile: host.identityFile } : {}),
    ...(host.jump !== undefined ? { jump: host.jump } : {}),
  };
}

export function predial(host: ResolvedHost, source: SshConfigSource = {}): EarlySocket | undefined {
  if (host.local) return undefined;
  let settings;
  try {
    settings = resolveSshHost(host.name, sshOverrides(host), source);
  } catch {
    return undefined; // the real connect reports it
  }
  if (settings.proxyJump) return undefined;
  const socket = net.connect({ host: settings.hostName, port: settings.port });
  const early: EarlySocket = { socket, settings, failed: false };
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
  if (!early) return undefined;
  if (early.failed || early.socket.destroyed) {
    early.socket.destroy();
    return undefined;
  }
  return early.socket;
}
