/**
 * The source changes under the deploy: a file growing or vanishing between the scan and its
 * upload. The error names the local file and the cause (not the server's "tar: This does not
 * look like a tar archive"), and nothing changes on the target.
 */
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSource } from '../../src/release/read-file.js';
import { spawnCli } from './harness.js';

function project(): { dir: string; config: string; app: string; root: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ee-source-'));
  const app = path.join(dir, 'app');
  mkdirSync(app);
  writeFileSync(path.join(app, 'index.html'), 'v1\n');
  const root = path.join(dir, 'target');
  const config = path.join(dir, 'ee-deploy.yaml');
  writeFileSync(config, ['project: src', 'source: { dir: ./app }', 'environments:', '  local:', `    hosts: [{ host: local, path: ${JSON.stringify(root)} }]`, ''].join('\n'));
  return { dir, config, app, root };
}

describe('a source file that changes during the deploy', () => {
  it('growing: the error names the file and says it changed; no release is made', async () => {
    const p = project();
    const big = path.join(p.app, 'big.bin');
    writeFileSync(big, Buffer.alloc(8 << 20, 1));
    // appends every few ms for as long as the deploy runs: the size at upload differs from the scan's
    let stop = false;
    const grow = (async () => {
      const t0 = Date.now();
      while (!stop && Date.now() - t0 < 20_000) {
        appendFileSync(big, Buffer.alloc(4096, 2));
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    const r = await spawnCli(['deploy', '-c', p.config, '--yes'], { cwd: p.dir });
    stop = true;
    await grow;
    expect(r.code, r.stderr).toBe(1);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('error: '));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^error: local: upload failed: big\.bin changed while it was being uploaded \(size \d+ -> \d+\); run the deploy again$/);
    expect(r.stderr + r.stdout).not.toContain('does not look like a tar archive');
    expect(existsSync(path.join(p.root, 'current'))).toBe(false);
    expect(readdirSync(path.join(p.root, 'releases'))).toEqual([]);
  });

  it('vanished: `cannot read <file>: <reason>`', () => {
    const p = project();
    const f = path.join(p.app, 'gone.txt');
    writeFileSync(f, 'x');
    unlinkSync(f);
    expect(() => openSource(f, { path: 'gone.txt', type: 'file', size: 1, mode: 0o644, mtimeMs: 0 } as never)).toThrow('cannot read gone.txt: no such file or directory');
  });
});
