// The benchmark's servers and links: SERVERS private sshd on 127.0.0.1 (the first one is
// bench/sshd.sh's, the others share its host key, user and authorized key), and per mode an ssh
// config that ssh, rsync and ee-deploy all read:
//   loopback   aliases point straight at the sshd ports
//   wan        aliases point at one relay per sshd (bench/relay.mjs in a child process: RTT/2 per
//              direction, a token bucket per connection and direction)
// Aliases: `bench` and `bench0`..`bench9` (server i), `f0`..`f<n-1>` (server i % SERVERS).
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { HERE, W, log } from './lib.mjs';

export const SERVERS = 10;
const S = path.join(W, 'sshd');
const extras = [];
let relayChild;

function sshdScript(cmd) {
  const r = spawnSync('bash', [path.join(HERE, 'sshd.sh'), cmd], { stdio: 'inherit', env: { ...process.env, BENCH_WORK: W } });
  if (r.status !== 0 && cmd === 'start') throw new Error('could not start the benchmark sshd');
}
const freePort = () =>
  Number(spawnSync('node', ['-e', 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'], { encoding: 'utf8' }).stdout.trim());

async function startExtra(i) {
  const port = freePort();
  const cfg = path.join(S, `sshd_config.${i}`);
  const logFile = path.join(S, `sshd.${i}.log`);
  const base = readFileSync(path.join(S, 'sshd_config'), 'utf8');
  writeFileSync(cfg, base.replace(/^Port .*$/m, `Port ${port}`).replace(/^PidFile .*$/m, `PidFile ${S}/sshd.${i}.pid`));
  writeFileSync(logFile, '');
  const child = spawn('/usr/sbin/sshd', ['-D', '-f', cfg, '-E', logFile], { stdio: 'ignore', detached: true });
  extras.push(child);
  for (let k = 0; k < 100 && !readFileSync(logFile, 'utf8').includes('Server listening'); k++) await new Promise((r) => setTimeout(r, 50));
  if (!readFileSync(logFile, 'utf8').includes('Server listening')) throw new Error(`sshd ${i} did not start:\n${readFileSync(logFile, 'utf8')}`);
  return port;
}

/** starts the servers; returns their ports (index = server) */
export async function startServers() {
  sshdScript('start');
  const ports = [Number(readFileSync(path.join(W, 'port'), 'utf8').trim())];
  for (let i = 1; i < SERVERS; i++) ports.push(await startExtra(i));
  process.on('exit', stopAll);
  return ports;
}

export function stopAll() {
  for (const c of extras.splice(0)) {
    try {
      process.kill(c.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
  relayChild?.stdin.end();
  relayChild = undefined;
  sshdScript('stop');
}

/** one relay per sshd, in a child process; returns its ports */
export function startRelays(ports, rtt, mbit) {
  relayChild = spawn('node', [path.join(HERE, 'relay.mjs'), '--serve', '--targets', ports.join(','), '--rtt', String(rtt), '--mbit', String(mbit)], { stdio: ['pipe', 'pipe', 'inherit'] });
  relayChild.stdout.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    relayChild.stdout.once('data', (d) => resolve(JSON.parse(d).ports));
    relayChild.once('exit', (c) => reject(new Error(`relay exited ${c}`)));
  });
}
/** bytes and connections the relays carried so far */
export function relayStats() {
  if (!relayChild) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    relayChild.stdout.once('data', (d) => resolve(JSON.parse(d)));
    relayChild.stdin.write('stats\n');
  });
}

/**
 * Writes the mode's ssh config, known_hosts and ee-deploy HOME; returns
 * { name, dir, sshConfig, ports } (ports: what alias bench<i> connects to).
 */
export function writeMode(name, ports, fleet = 100) {
  const dir = path.join(W, 'modes', name);
  mkdirSync(path.join(dir, 'home', '.ssh'), { recursive: true });
  chmodSync(path.join(dir, 'home', '.ssh'), 0o700);
  const key = readFileSync(path.join(S, 'host_key.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
  const known = path.join(dir, 'known_hosts');
  writeFileSync(known, ports.map((p) => `[127.0.0.1]:${p} ${key}\n`).join(''));
  const user = readFileSync(path.join(S, 'sshd_config'), 'utf8').match(/^AllowUsers (.*)$/m)[1];
  const common = [
    '  HostName 127.0.0.1',
    `  User ${user}`,
    `  IdentityFile ${W}/client_key`,
    '  IdentitiesOnly yes',
    `  UserKnownHostsFile ${known}`,
    '  GlobalKnownHostsFile /dev/null',
    '  StrictHostKeyChecking yes',
    '  BatchMode yes',
    '  ControlMaster no',
    '  ControlPath none',
  ];
  const blocks = [['bench', 0], ...ports.map((_, i) => [`bench${i}`, i]), ...Array.from({ length: fleet }, (_, i) => [`f${i}`, i % ports.length])];
  const text = blocks.map(([alias, i]) => [`Host ${alias}`, `  Port ${ports[i]}`, ...common].join('\n')).join('\n\n') + '\n';
  const sshConfig = path.join(dir, 'ssh_config');
  writeFileSync(sshConfig, text);
  cpSync(sshConfig, path.join(dir, 'home', '.ssh', 'config'));
  cpSync(known, path.join(dir, 'home', '.ssh', 'known_hosts'));
  chmodSync(path.join(dir, 'home', '.ssh', 'config'), 0o600);
  if (!existsSync(path.join(dir, 'cache'))) mkdirSync(path.join(dir, 'cache'));
  log(`${name}: aliases bench, bench0..bench${ports.length - 1}, f0..f${fleet - 1} -> 127.0.0.1:${ports.join(',')}`);
  return { name, dir, sshConfig, ports };
}
