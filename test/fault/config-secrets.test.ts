/**
 * A config error never shows a value filled in from the environment (`${TOKEN}`) or the secrets
 * file (`${secret:NAME}`): not whole, not JSON-escaped, not cut short (the way messages quote a
 * long value). The source text (`${TOKEN}`) names it instead. Checked for every 8-character
 * piece of the token, for values rejected by type, by a custom rule, inside a longer text, and
 * through the CLI.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { faultEnv, spawnCli } from './harness.js';

const TOKEN = 'sk_live_9f3A"q\\Zr8' + 'x7KmP2vLwQ4nT6yB1cH5jD0gF8sR3eU9aO7iY2'.repeat(2);

function windows(s: string, n = 8): string[] {
  const out: string[] = [];
  for (let i = 0; i + n <= s.length; i++) out.push(s.slice(i, i + n));
  return out;
}
const pieces = [...windows(TOKEN), ...windows(JSON.stringify(TOKEN).slice(1, -1))];

const base = (extra: string) =>
  ['project: shop', 'source: { dir: ./app }', extra, 'environments:', '  prod:', '    hosts: [{ host: local, path: /tmp/ee-never }]', ''].join('\n');

const cases: [string, string][] = [
  ['a number', 'keep_releases: "${TOKEN}"'],
  ['a number from a secret', 'keep_releases: "${secret:API_TOKEN}"'],
  ['a duration (custom rule)', 'lock_stale_after: "${TOKEN}"'],
  ['a duration inside a longer text', 'hooks_timeout: "5 minutes ${TOKEN}"'],
  ['a date', 'policy: { freeze: [{ from: "${TOKEN}", to: "2026-12-31" }] }'],
  ['a window', 'policy: { windows: ["${TOKEN}"] }'],
  ['an enum', 'compress: "${TOKEN}"'],
  ['a boolean', 'source: { dir: ./app, hard_links: "${TOKEN}" }'],
];

function message(text: string): string {
  try {
    parseConfigText(text, '/tmp/ee-deploy.yaml', { TOKEN }, { secret: (n) => (n === 'API_TOKEN' ? TOKEN : undefined) });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('accepted');
}

describe('config errors never show an interpolated value', () => {
  for (const [name, line] of cases) {
    it(name, () => {
      const text = name === 'a boolean' ? base('').replace('source: { dir: ./app }', line) : base(line);
      const m = message(text);
      expect(pieces.filter((p) => m.includes(p)), m).toEqual([]);
    });
  }

  it('a wrong type names the source text instead', () => {
    expect(message(base('keep_releases: "${TOKEN}"'))).toBe('/tmp/ee-deploy.yaml:3:16: keep_releases: expected number, got string from "${TOKEN}"');
  });

  it('through the CLI: exit 2, one line, nothing of the token', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ee-config-secret-'));
    mkdirSync(path.join(dir, 'app'));
    writeFileSync(path.join(dir, 'ee-deploy.yaml'), base('keep_releases: "${TOKEN}"'));
    const r = await spawnCli(['deploy', '--yes'], { cwd: dir, env: faultEnv({ TOKEN }) });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(pieces.filter((p) => (r.stdout + r.stderr).includes(p))).toEqual([]);
  });
});
