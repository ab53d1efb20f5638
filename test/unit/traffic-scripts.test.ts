/**
 * Traffic builders: HAProxy runtime lines and `show stat` parsing, the nginx upstream file, and
 * the blue-green process scripts, the latter run by the real /bin/sh against a real node process.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fillPlaceholders, haproxyAnswerError, haproxySetState, nginxUpstreamText, parseHaproxyStat, parseWorkers, workersLeft, writeUpstreamScript } from '../../src/remote/traffic/lb.js';
import {
  blueGreenCancelStopScript,
  blueGreenScheduleStopScript,
  blueGreenStartScript,
  blueGreenStateScript,
  blueGreenStopNowScript,
  execForm,
  parseBlueGreenState,
  parseStartedPid,
  parseUpstreamPort,
  withPlaceholders,
} from '../../src/remote/traffic/blue-green.js';
import type { Cmd } from '../../src/remote/shell.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-traffic-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function sh(c: Cmd): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync('sh', ['-c', c.text], { encoding: 'utf8', cwd: tmp });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('haproxy', () => {
  it('runtime lines; names that are not HAProxy names never reach the socket', () => {
    expect(haproxySetState('app', 'web1', 'drain')).toBe('set server app/web1 state drain');
    expect(() => haproxySetState('app', 'web1; shutdown', 'ready')).toThrow(/invalid/);
    expect(haproxyAnswerError('\n')).toBeUndefined();
    expect(haproxyAnswerError('No such backend.\n\n')).toBe('No such backend.');
  });
  it('show stat: scur and status of one server', () => {
    const csv = '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status\nfe,FRONTEND,,,3,5,,,,,,,,,,,,OPEN\napp,web1,0,0,2,4,,,,,,,,,,,,DRAIN\napp,web2,0,0,0,1,,,,,,,,,,,,UP\n';
    expect(parseHaproxyStat(csv, 'app', 'web1')).toEqual({ scur: 2, status: 'DRAIN' });
    expect(parseHaproxyStat(csv, 'app', 'web2')).toEqual({ scur: 0, status: 'UP' });
    expect(parseHaproxyStat(csv, 'app', 'web3')).toBeUndefined();
    expect(parseHaproxyStat('Unknown command', 'app', 'web1')).toBeUndefined();
  });
});

describe('nginx upstream', () => {
  it('one server line per server, down while drained', () => {
    expect(nginxUpstreamText([{ address: '10.0.0.1:3000', down: true }, { address: '10.0.0.2:3000', down: false }])).toBe('server 10.0.0.1:3000 down;\nserver 10.0.0.2:3000;\n');
  });
  it('writes atomically and puts the old file back when the reload fails', () => {
    const f = path.join(tmp, 'up.conf');
    writeFileSync(f, 'server old;\n');
    const ok = sh(writeUpstreamScript(f, 'server new;\n', 'true'));
    expect(ok.code).toBe(0);
    expect(readFileSync(f, 'utf8')).toBe('server new;\n');
    const bad = sh(writeUpstreamScript(f, 'server broken;\n', 'grep -q new ' + f));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('@@ee lb failed the reload command failed');
    expect(readFileSync(f, 'utf8')).toBe('server new;\n');
  });
  it('nginx workers: the reloaded master is the one with a new worker; other instances do not count', () => {
    const before = parseWorkers('@@ee lb worker 11 10 0\n@@ee lb worker 21 20 0\n@@ee lb workers-end\n')!;
    expect(before).toEqual([{ pid: 11, ppid: 10, exiting: false }, { pid: 21, ppid: 20, exiting: false }]);
    expect(parseWorkers('no end marker')).toBeUndefined();
    // not reloaded yet
    expect(workersLeft(before, before)).toBeUndefined();
    // master 10 reloaded: 12 is new, 11 still finishing; master 20 (another nginx) untouched
    expect(workersLeft(before, [{ pid: 11, ppid: 10, exiting: true }, { pid: 12, ppid: 10, exiting: false }, { pid: 21, ppid: 20, exiting: false }])).toBe(1);
    expect(workersLeft(before, [{ pid: 12, ppid: 10, exiting: false }, { pid: 21, ppid: 20, exiting: false }])).toBe(0);
  });
  it('{host} placeholders become one quoted word', () => {
    expect(fillPlaceholders('lb-ctl drain {host} ${host} {other}', { host: "web 1'x" })).toBe(`lb-ctl drain 'web 1'\\''x' \${host} {other}`);
  });
});

describe('blue-green builders', () => {
  it('exec goes after the assignments of a simple command only', () => {
    expect(execForm('PORT={port} node server.js')).toBe('PORT={port} exec node server.js');
    expect(execForm('node server.js --port "$EE_PORT" > x.log')).toBe('exec node server.js --port "$EE_PORT" > x.log');
    expect(execForm(`A='x y' B="$EE_PORT" ./bin/app`)).toBe(`A='x y' B="$EE_PORT" exec ./bin/app`);
    expect(execForm('cd sub && node s.js')).toBe('cd sub && node s.js');
    expect(execForm('exec node s.js')).toBe('exec node s.js');
    expect(execForm('node -e "a;b"')).toBe('exec node -e "a;b"');
  });
  it('placeholders become the scripts variables', () => {
    expect(withPlaceholders('PORT={port} node s.js --pid {pidfile} --root {release} ${HOME} {x}')).toBe('PORT="$EE_PORT" node s.js --pid "$EE_PIDFILE" --root "$EE_RELEASE" ${HOME} {x}');
  });
  it('upstream line round trip', () => {
    expect(parseUpstreamPort('server 127.0.0.1:3002;\n')).toBe(3002);
    expect(parseUpstreamPort('')).toBeUndefined();
  });

  it('start records the app process own pid; a delayed stop can be cancelled; stop now ends it', async () => {
    const root = path.join(tmp, 'app');
    const id = '20260101000000';
    mkdirSync(path.join(root, 'releases', id), { recursive: true });
    writeFileSync(path.join(root, 'releases', id, 'server.js'), `require('http').createServer((q, s) => s.end('v1 ' + process.cwd())).listen(Number(process.env.PORT), '127.0.0.1');\n`);
    const upstream = path.join(tmp, 'bg-upstream.conf');
    const start = `PORT={port} ${process.execPath} server.js`;
    const stop = 'kill $(cat {pidfile})';
    const port = 20000 + Math.floor(Math.random() * 20000);
    const r = sh(blueGreenStartScript(root, { port, release: id, start, stop }));
    expect(r.code, r.stderr).toBe(0);
    const pid = parseStartedPid(r.stdout)!;
    const pidFile = path.join(root, '.ee-deploy/blue-green', `${port}.pid`);
    expect(Number(readFileSync(pidFile, 'utf8'))).toBe(pid);
    let body = '';
    for (let i = 0; i < 100 && !body; i++) {
      body = await fetch(`http://127.0.0.1:${port}/`).then((x) => x.text(), () => '');
      if (!body) await new Promise((res) => setTimeout(res, 50));
    }
    expect(body).toBe(`v1 ${path.join(root, 'releases', id)}`);
    // the pid is node's, not a wrapper shell's
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]).toBe(process.execPath);
    writeFileSync(upstream, `server 127.0.0.1:${port};\n`);
    const st = parseBlueGreenState(sh(blueGreenStateScript(root, upstream, [port, port + 1])).stdout)!;
    expect(st).toEqual({ active: port, ports: [{ port, alive: true, release: id, stopPending: false }, { port: port + 1, alive: false, release: undefined, stopPending: false }] });

    expect(sh(blueGreenScheduleStopScript(root, port, stop, 1000)).code).toBe(0);
    expect(parseBlueGreenState(sh(blueGreenStateScript(root, upstream, [port])).stdout)!.ports[0].stopPending).toBe(true);
    expect(sh(blueGreenCancelStopScript(root, port)).stdout).toContain('@@ee bg alive 1');
    await new Promise((res) => setTimeout(res, 1500));
    expect(() => process.kill(pid, 0)).not.toThrow();

    const s = sh(blueGreenStopNowScript(root, port, stop));
    expect(s.code, s.stderr).toBe(0);
    expect(() => process.kill(pid, 0)).toThrow();
    expect(existsSync(pidFile)).toBe(false);

    // a delayed stop that is not cancelled runs
    const r2 = sh(blueGreenStartScript(root, { port, release: id, start, stop }));
    const pid2 = parseStartedPid(r2.stdout)!;
    expect(sh(blueGreenScheduleStopScript(root, port, stop, 500)).code).toBe(0);
    let gone = false;
    for (let i = 0; i < 60 && !gone; i++) {
      await new Promise((res) => setTimeout(res, 100));
      try {
        process.kill(pid2, 0);
      } catch {
        gone = true;
      }
    }
    expect(gone).toBe(true);
    execFileSync('true');
  });
});
