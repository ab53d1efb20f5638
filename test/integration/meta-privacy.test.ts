/**
 * What `.ee-deploy/` reveals (the lock's holder and message, history, manifests) is the owner's
 * alone: the directory is 0700 (an existing one loses access for others), the lock 0700 with its
 * info 0600, and a known secret typed into `-m` is stored redacted. Local and SSH targets.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, historyRecords, newProject, server } from '../helpers/deploy-env.js';
import { startSshd, type SshdFixture } from '../helpers/sshd.js';

let f: SshdFixture;
let tmp: string;

beforeAll(async () => {
  f = await startSshd({ servers: [server('web1')] });
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-meta-'));
});

afterAll(async () => {
  await f?.stopAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const TOKEN = 'tok_8f2kQ9zLmW4xP7vR1nB6';
const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);

describe('.ee-deploy/ privacy', () => {
  for (const target of ['local', 'ssh'] as const) {
    it(`${target}: 0700 dir, lock 0700 with info 0600, -m redacted in the lock and the history`, async () => {
      const root = path.join(tmp, `root-${target}`);
      const p = newProject({ hosts: [{ host: target === 'local' ? 'local' : 'web1', path: root }], hooks: { after_switch: ['test -n "${TOKEN}"'] } });
      const env = { TOKEN };
      // a layout an older version made: world-readable
      mkdirSync(path.join(root, '.ee-deploy'), { recursive: true });
      chmodSync(path.join(root, '.ee-deploy'), 0o755);
      const d = await cli(f.home, p.dir, ['deploy', '--yes', '-m', `rotate key ${TOKEN} now`], { env });
      expect(d.code, d.stderr).toBe(0);
      expect(mode(path.join(root, '.ee-deploy'))).toBe('750');
      expect(JSON.stringify(historyRecords(root))).not.toContain(TOKEN);
      expect(JSON.stringify(historyRecords(root))).toContain('rotate key *** now');

      const l = await cli(f.home, p.dir, ['lock', '-m', `maintenance with ${TOKEN}`], { env });
      expect(l.code, l.stderr).toBe(0);
      const lock = path.join(root, '.ee-deploy', 'lock');
      expect(mode(lock)).toBe('700');
      expect(mode(path.join(lock, 'info'))).toBe('600');
      const info = readFileSync(path.join(lock, 'info'), 'utf8');
      expect(info).not.toContain(TOKEN);
      expect(JSON.parse(info).message).toBe('maintenance with ***');
      expect((await cli(f.home, p.dir, ['unlock'], { env })).code).toBe(0);
    });
  }

  it('a new layout: .ee-deploy is 0700', async () => {
    const root = path.join(tmp, 'root-new');
    const p = newProject({ hosts: [{ host: 'local', path: root }] });
    const d = await cli(f.home, p.dir, ['deploy', '--yes']);
    expect(d.code, d.stderr).toBe(0);
    expect(mode(path.join(root, '.ee-deploy'))).toBe('700');
  });
});
