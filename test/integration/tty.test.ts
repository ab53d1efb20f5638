/**
 * On a real pseudo-terminal (util-linux `script`): spinners and colour, the rollback prompt, and
 * a terminal without a width (which must fall back to plain lines instead of hanging).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, makeProject } from '../helpers/cli.js';

function onTty(command: string, input?: { afterMs: number; text: string }): Promise<{ code: number | null; out: string }> {
  const log = path.join(mkdtempSync(path.join(os.tmpdir(), 'ee-tty-')), 'typescript');
  return new Promise((resolve) => {
    const child = spawn('script', ['-qec', command, log], { stdio: ['pipe', 'ignore', 'ignore'], env: { ...process.env, NO_COLOR: '', FORCE_COLOR: '1' } });
    if (input) setTimeout(() => child.stdin.write(input.text), input.afterMs);
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code) => {
      clearTimeout(killer);
      child.stdin.destroy();
      resolve({ code, out: readFileSync(log, 'utf8') });
    });
  });
}

const yaml = `project: ttyapp
source: { dir: app }
environments:
  local:
    hosts: [{ host: local, path: ./target }]
`;

describe('on a terminal', () => {
  it('shows spinners and colour, and the rollback prompt switches only after "y"', async () => {
    const p = makeProject(yaml);
    const deploy = (n: number) => onTty(`stty cols 100 rows 30; cd '${p.dir}' && sleep 1.1 && node '${CLI}' deploy # ${n}`);
    const a = await deploy(1);
    expect(a.code).toBe(0);
    expect(a.out).toMatch(/\x1b\[32m✔/); // ora's green tick
    expect(a.out).toMatch(/is live on local/);
    const first = readlinkSync(path.join(p.dir, 'target/current'));
    expect((await deploy(2)).code).toBe(0);
    const second = readlinkSync(path.join(p.dir, 'target/current'));
    expect(second).not.toBe(first);

    const no = await onTty(`stty cols 100 rows 30; cd '${p.dir}' && node '${CLI}' rollback`, { afterMs: 2500, text: 'n\r' });
    expect(no.out).toMatch(/Roll back ttyapp \(local\) on 1 host\(s\) to \d{14}\?/);
    expect(no.out).toMatch(/rollback cancelled; nothing was changed/);
    expect(readlinkSync(path.join(p.dir, 'target/current'))).toBe(second);

    const yes = await onTty(`stty cols 100 rows 30; cd '${p.dir}' && node '${CLI}' rollback`, { afterMs: 2500, text: 'y\r' });
    expect(yes.code).toBe(0);
    expect(readlinkSync(path.join(p.dir, 'target/current'))).toBe(first);
  });

  it('a terminal that reports no width gets plain timestamped lines, not a hung spinner', async () => {
    const p = makeProject(yaml);
    const r = await onTty(`stty cols 0 rows 0; cd '${p.dir}' && node '${CLI}' deploy`);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ok +ttyapp \d{14} is live on local/m);
  });
});
