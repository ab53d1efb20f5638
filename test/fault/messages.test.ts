/**
 * Failures say what failed, in one line: a switch that fails keeps the script's reason; a source
 * file name that is not UTF-8 and a source directory that cannot be read are named (not
 * "unexpected error" with an internal message), and nothing is created on the target.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cli.js';
import { spawnCli } from './harness.js';

function project(name: string): { dir: string; config: string; app: string; root: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), `ee-msg-${name}-`));
  const app = path.join(dir, 'app');
  mkdirSync(app);
  writeFileSync(path.join(app, 'index.html'), 'v1\n');
  const root = path.join(dir, 'target');
  const config = path.join(dir, 'ee-deploy.yaml');
  writeFileSync(config, ['project: msg', 'source: { dir: ./app }', 'environments:', '  local:', `    hosts: [{ host: local, path: ${JSON.stringify(root)} }]`, ''].join('\n'));
  return { dir, config, app, root };
}

const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.trim());

describe('one-line errors that say what failed', () => {
  it('a failed switch shows the script\'s reason (current is a directory, not a link)', async () => {
    const p = project('switch');
    const first = await spawnCli(['deploy', '-c', p.config, '--yes'], { cwd: p.dir });
    expect(first.code, first.stderr).toBe(0);
    // someone replaced the link with a real directory
    rmSync(path.join(p.root, 'current'));
    mkdirSync(path.join(p.root, 'current'));
    writeFileSync(path.join(p.app, 'index.html'), 'v2\n');
    const r = await spawnCli(['deploy', '-c', p.config, '--yes'], { cwd: p.dir });
    expect(r.code).toBe(1);
    expect(errorLines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: local: switch failed: .*current exists and is not a symlink/);
  });

  it('a file name that is not UTF-8: named, with its bytes escaped', async () => {
    const p = project('utf8');
    mkdirSync(path.join(p.app, 'assets'));
    writeFileSync(Buffer.concat([Buffer.from(path.join(p.app, 'assets') + '/bad'), Buffer.from([0xff, 0xfe]), Buffer.from('.txt')]), 'x');
    const r = await spawnCli(['deploy', '-c', p.config, '--yes'], { cwd: p.dir });
    expect(r.code).toBe(1);
    expect(errorLines(r.stderr)).toEqual(['error: the name of assets/bad\\xff\\xfe.txt in source.dir is not valid UTF-8: rename it (or exclude it)']);
    expect(existsSync(p.root)).toBe(false);
  });

  it('a directory that cannot be read: named, with the cause (run as an unprivileged user)', () => {
    const p = project('unreadable');
    mkdirSync(path.join(p.app, 'private'));
    writeFileSync(path.join(p.app, 'private', 'key.pem'), 'x');
    chmodSync(path.join(p.app, 'private'), 0o000);
    const home = path.join(p.dir, 'home');
    mkdirSync(home);
    for (const d of [p.dir, p.app, home]) chownSync(d, 65534, 65534);
    chownSync(p.config, 65534, 65534);
    chmodSync(p.dir, 0o755);
    let out = '';
    let code = 0;
    try {
      execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, 'deploy', '-c', p.config, '--yes'], {
        cwd: p.dir,
        env: { PATH: process.env.PATH, HOME: home, XDG_CONFIG_HOME: home, XDG_CACHE_HOME: home, NO_COLOR: '1', GIT_CEILING_DIRECTORIES: os.tmpdir() },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (e) {
      const x = e as { status: number; stderr: Buffer };
      code = x.status;
      out = x.stderr.toString();
    }
    expect(code).toBe(1);
    expect(errorLines(out)).toEqual(['error: cannot read the directory private of source.dir: permission denied']);
    expect(existsSync(p.root) ? readdirSync(p.root) : []).toEqual([]);
  });
});
