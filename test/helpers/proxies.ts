/**
 * Real nginx and HAProxy for integration tests, run in the foreground from config files in a temp
 * dir on 127.0.0.1 ports: never the system services, never a port outside loopback.
 *
 *   const ngx = await startNginx((dir) => `server { listen 127.0.0.1:${port}; ... }`);
 *   await ngx.reload(); await ngx.stop();
 *   const hap = await startHaproxy(({ socket }) => `frontend fe ... backend app ...`);
 *   await hap.admin('show stat');   // runtime API over its stats socket (level admin)
 *
 * nginx: `-p <dir> -c <dir>/nginx.conf -e <dir>/error.log -g 'daemon off; pid <dir>/nginx.pid;'`
 * with every temp path and log inside the dir. Running as root, its workers run as root too so
 * they can read the test's 0700 temp dirs (a real server would give its user read access).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const NGINX = process.env.NGINX_BIN ?? '/usr/sbin/nginx';
export const HAPROXY = process.env.HAPROXY_BIN ?? '/usr/sbin/haproxy';

export { freePort } from './sshd.js';

export interface ProxyProcess {
  dir: string;
  /** main config file */
  conf: string;
  proc: ChildProcess;
  /** everything the process wrote to stdout/stderr */
  output(): string;
  stop(): Promise<void>;
}

export interface NginxProcess extends ProxyProcess {
  errorLog: string;
  pidFile: string;
  /** `nginx -s reload` with the same prefix/config, as a user's reload command would */
  reload(): Promise<void>;
  /** the reload command as shell text (for blue_green.reload / load_balancer.reload in a config) */
  reloadCommand: string;
}

export interface HaproxyProcess extends ProxyProcess {
  socket: string;
  /** one runtime API command (or several separated by `;`); resolves with the answer */
  admin(command: string): Promise<string>;
}

/** Waits until something accepts TCP connections on 127.0.0.1:port. */
export async function waitForPort(port: number, timeoutMs = 10_000, proc?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc && proc.exitCode !== null) throw new Error(`process exited with ${proc.exitCode} before listening on ${port}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function spawnLogged(bin: string, args: string[]): { proc: ChildProcess; output: () => string } {
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.setEncoding('utf8').on('data', (d) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d) => (out += d));
  return { proc, output: () => out };
}

function stopper(proc: ChildProcess, signal: NodeJS.Signals): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      proc.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      proc.kill(signal);
    });
}

/**
 * Starts nginx with `http { <http(dir)> }`. `listen` is the port the caller's server block uses
 * (to wait for); the temp dir is passed so the block can point at files in it.
 */
export async function startNginx(http: (dir: string) => string, listen: number, o: { dir?: string } = {}): Promise<NginxProcess> {
  const dir = o.dir ?? mkdtempSync(path.join(os.tmpdir(), 'ee-nginx-'));
  for (const d of ['logs', 'tmp']) mkdirSync(path.join(dir, d), { recursive: true });
  const conf = path.join(dir, 'nginx.conf');
  const errorLog = path.join(dir, 'logs/error.log');
  const pidFile = path.join(dir, 'nginx.pid');
  const asRoot = process.getuid?.() === 0;
  writeFileSync(
    conf,
    `${asRoot ? 'user root root;\n' : ''}worker_processes 1;
error_log ${errorLog} notice;
events { worker_connections 512; }
http {
  access_log ${path.join(dir, 'logs/access.log')};
  client_body_temp_path ${path.join(dir, 'tmp/body')};
  proxy_temp_path ${path.join(dir, 'tmp/proxy')};
  fastcgi_temp_path ${path.join(dir, 'tmp/fastcgi')};
  uwsgi_temp_path ${path.join(dir, 'tmp/uwsgi')};
  scgi_temp_path ${path.join(dir, 'tmp/scgi')};
  default_type application/octet-stream;
${http(dir)}
}
`,
  );
  const globals = `daemon off; pid ${pidFile};`;
  const base = ['-p', `${dir}/`, '-c', conf, '-e', errorLog];
  const test = spawnLogged(NGINX, [...base, '-g', globals, '-t']);
  const testCode = await new Promise<number | null>((r) => test.proc.once('exit', r));
  if (testCode !== 0) throw new Error(`nginx -t failed: ${test.output()}`);
  const { proc, output } = spawnLogged(NGINX, [...base, '-g', globals]);
  await waitForPort(listen, 10_000, proc);
  const reloadArgs = [...base, '-g', globals, '-s', 'reload'];
  const reloadCommand = [NGINX, ...reloadArgs].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return {
    dir,
    conf,
    proc,
    output,
    errorLog,
    pidFile,
    reloadCommand,
    reload: async () => {
      const r = spawnLogged(NGINX, reloadArgs);
      const code = await new Promise<number | null>((res) => r.proc.once('exit', res));
      if (code !== 0) throw new Error(`nginx -s reload failed: ${r.output()}`);
    },
    stop: async () => {
      await stopper(proc, 'SIGQUIT')();
      if (!o.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts HAProxy in the foreground (`-db`) with a global section holding an admin stats socket in
 * the temp dir, a `defaults` section (mode http, short timeouts) and `body` (frontends/backends).
 */
export async function startHaproxy(body: (o: { dir: string; socket: string }) => string, listen: number): Promise<HaproxyProcess> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ee-haproxy-'));
  const socket = path.join(dir, 'admin.sock');
  const conf = path.join(dir, 'haproxy.cfg');
  writeFileSync(
    conf,
    `global
  stats socket ${socket} mode 600 level admin
  stats timeout 30s
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 30s
${body({ dir, socket })}
`,
  );
  const check = spawnLogged(HAPROXY, ['-c', '-f', conf]);
  const checkCode = await new Promise<number | null>((r) => check.proc.once('exit', r));
  if (checkCode !== 0) throw new Error(`haproxy -c failed: ${check.output()}`);
  const { proc, output } = spawnLogged(HAPROXY, ['-f', conf, '-db']);
  await waitForPort(listen, 10_000, proc);
  for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 50));
  return {
    dir,
    conf,
    proc,
    output,
    socket,
    admin: (command) => haproxyAdmin(socket, command),
    stop: async () => {
      await stopper(proc, 'SIGUSR1')(); // soft stop: finish the sessions in flight
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One runtime API exchange on a stats socket: send the line, read until HAProxy closes. */
export function haproxyAdmin(socket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socket);
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (d) => (out += d));
    s.on('error', reject);
    s.on('close', () => resolve(out));
    s.on('connect', () => s.write(`${command}\n`));
  });
}

/** `show stat` as records (pxname, svname, scur, status, ...). */
export function parseShowStat(text: string): Record<string, string>[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const header = lines.find((l) => l.startsWith('# '));
  if (!header) return [];
  const cols = header.slice(2).split(',');
  return lines
    .filter((l) => !l.startsWith('#'))
    .map((l) => {
      const v = l.split(',');
      return Object.fromEntries(cols.map((c, i) => [c, v[i] ?? '']));
    });
}

export function readIfExists(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}
