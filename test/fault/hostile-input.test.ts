/**
 * Hostile input.
 *  - 200+ generated malformed/hostile configs: each is refused with a one-line config/usage error
 *    (exit 2), in-process through parseConfigText + resolveConfig (fast), and a sample of them
 *    through the real CLI: exit 2, exactly one stderr line `error: ...`, no stack trace, nothing
 *    created (no deploy dir, no registry entry).
 *  - quote() round-trips through a real `sh`: `printf '%s' <quoted>` gives back the exact bytes,
 *    for thousands of random strings full of quotes, $, backticks, newlines and unicode.
 *  - values that are hostile but valid (shell metacharacters in paths and shared names) stay
 *    inert: they reach the server as data, never as shell.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import { resolveConfig } from '../../src/config/resolve.js';
import { ConfigError, EeError, ExitCode, UsageError } from '../../src/errors.js';
import { quote } from '../../src/remote/shell.js';
import { faultEnv, spawnCli } from './harness.js';
import { hostileConfigs, type HostileCase } from './hostile-configs.js';

const cases = hostileConfigs();
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ee-hostile-'));
});

function validate(c: HostileCase): unknown {
  const file = path.join(dir ?? os.tmpdir(), 'ee-deploy.yaml');
  try {
    const raw = parseConfigText(c.text, file, { ...c.env });
    resolveConfig({ file, dir: path.dirname(file), raw });
    return undefined;
  } catch (e) {
    return e;
  }
}

describe('generated hostile configs', () => {
  it(`there are at least 200 of them (${cases.length})`, () => {
    expect(cases.length).toBeGreaterThanOrEqual(200);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  });

  it('every one is a config/usage error (exit 2) with a one-line message', () => {
    const bad: string[] = [];
    let clean = 0;
    for (const c of cases) {
      const t0 = Date.now();
      const e = validate(c);
      const ms = Date.now() - t0;
      const problem =
        e === undefined ? 'accepted'
        : !(e instanceof ConfigError || e instanceof UsageError) ? `${(e as Error)?.constructor?.name}: ${String((e as Error)?.message).slice(0, 120)}`
        : (e as EeError).exitCode !== ExitCode.usage ? `exit ${(e as EeError).exitCode}`
        : /[\r\n]/.test((e as Error).message) ? `multi-line message: ${JSON.stringify((e as Error).message.slice(0, 200))}`
        : (e as Error).message.length > 500 ? `message of ${(e as Error).message.length} characters`
        : ms > 3000 ? `took ${ms} ms`
        : undefined;
      if (problem) bad.push(`${c.name}: ${problem}`);
      else clean++;
    }
    console.log(`hostile configs: ${cases.length} tried, ${clean} clean`);
    expect(bad).toEqual([]);
  });

  // every 12th case through the real CLI: exit 2, one line, no stack, nothing touched
  const sample = cases.filter((_, i) => i % 12 === 5);
  it(`a sample of ${sample.length} through the CLI: exit 2, one stderr line, nothing touched`, async () => {
    expect(sample.length).toBeGreaterThanOrEqual(18);
    const xdg = path.join(dir, 'xdg');
    const results = await Promise.all(
      sample.map(async (c, i) => {
        const proj = path.join(dir, `cli-${i}`);
        mkdirSync(path.join(proj, 'app'), { recursive: true });
        writeFileSync(path.join(proj, 'ee-deploy.yaml'), c.text);
        const r = await spawnCli(['deploy', '-c', 'ee-deploy.yaml', '--yes'], { cwd: proj, env: faultEnv({ ...c.env, XDG_CONFIG_HOME: xdg }), timeoutMs: 30_000 });
        return { c, r, proj };
      }),
    );
    const bad: string[] = [];
    for (const { c, r, proj } of results) {
      const lines = r.stderr.replace(/\n$/, '').split('\n');
      if (r.code !== 2) bad.push(`${c.name}: exit ${r.code}: ${r.stderr.slice(0, 200)}`);
      else if (lines.length !== 1 || !lines[0].startsWith('error: ')) bad.push(`${c.name}: stderr ${JSON.stringify(r.stderr.slice(0, 300))}`);
      else if (/\n\s+at /.test(r.stderr)) bad.push(`${c.name}: stack trace`);
      else if (r.stdout !== '') bad.push(`${c.name}: stdout ${JSON.stringify(r.stdout.slice(0, 200))}`);
      // touching nothing: the project dir holds what we wrote, no deploy dir anywhere in it
      const left = readdirSync(proj).sort();
      if (left.join(',') !== 'app,ee-deploy.yaml') bad.push(`${c.name}: created ${left.join(', ')}`);
    }
    expect(existsSync(path.join(xdg, 'ee-deploy', 'projects.json')), 'a failed config registered a project').toBe(false);
    expect(bad).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// quote(): property test against a real sh

/** deterministic PRNG (mulberry32) */
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = [
  "'", '"', '$', '`', '\\', '\n', '\r', '\t', ' ', '!', '*', '?', '[', ']', '{', '}', '~', '#', ';', '&', '|', '<', '>', '(', ')', '%', '=', '-', '--', '$(', '${', '$((1+1))', '`id`', "'\\''", '\\n', '%s', '%b', '\\0',
  'a', 'Z', '0', '9', '_', '.', '/', ':', ',', '@', '+', 'é', 'ß', '日本', '🙂', '\u200b', '\u2028', '\u00a0', '\u0001', '\u001b[31m', '\u007f', '\ud800', 'x'.repeat(50),
];

function randomString(rnd: () => number): string {
  const n = Math.floor(rnd() * 12);
  let s = '';
  for (let i = 0; i < n; i++) {
    if (rnd() < 0.15) s += String.fromCodePoint(1 + Math.floor(rnd() * 0x2fff));
    else s += PIECES[Math.floor(rnd() * PIECES.length)];
  }
  return s;
}

describe('quote() round-trips through sh', () => {
  it('printf %s of each quoted string gives back its exact bytes (3000 random strings, 10 sh runs)', () => {
    const rnd = prng(20261122);
    const fixed = ['', ' ', "'", "''", '"', '\n', '-n', '-e', '--', '$HOME', '$(touch /tmp/ee-pwned)', '`touch /tmp/ee-pwned`', "a'b'c", '\\', 'x\ny\n', '~', '*', '!!'];
    const all = [...fixed, ...Array.from({ length: 3000 }, () => randomString(rnd))];
    let checked = 0;
    for (let b = 0; b < all.length; b += 300) {
      const batch = all.slice(b, b + 300);
      // one printf per string, NUL-terminated; the script goes in on stdin (no ARG_MAX limit)
      const script = batch.map((s) => `printf '%s\\0' ${quote(s)}`).join('\n') + '\n';
      const out = execFileSync('sh', ['-s'], { input: script, maxBuffer: 64 * 1024 * 1024 });
      const parts: Buffer[] = [];
      let start = 0;
      for (let i = 0; i < out.length; i++) if (out[i] === 0) (parts.push(out.subarray(start, i)), (start = i + 1));
      expect(parts).toHaveLength(batch.length);
      batch.forEach((s, i) => {
        const want = Buffer.from(s, 'utf8');
        if (!parts[i].equals(want)) throw new Error(`quote(${JSON.stringify(s)}) = ${quote(s)} came back as ${JSON.stringify(parts[i].toString('utf8'))}`);
        checked++;
      });
    }
    expect(checked).toBe(all.length);
    expect(existsSync('/tmp/ee-pwned')).toBe(false);
  });

  it('refuses a NUL byte (sh cannot carry it)', () => {
    expect(() => quote('a\0b')).toThrow(/NUL/);
  });
});

// ---------------------------------------------------------------------------------------------
// hostile but valid: data stays data

describe('hostile but valid values stay inert', () => {
  it('a deploy path, shared names and hook environment full of shell metacharacters', async () => {
    const proj = path.join(dir, 'inert');
    const canary = path.join(dir, 'PWNED');
    mkdirSync(path.join(proj, 'app'), { recursive: true });
    writeFileSync(path.join(proj, 'app', 'index.html'), 'hi\n');
    const weird = `x $(touch ${canary}) \`touch ${canary}\` ; touch ${canary} 'q' "d" é`;
    const root = path.join(proj, weird);
    writeFileSync(
      path.join(proj, 'ee-deploy.yaml'),
      [
        'project: inert',
        'source: { dir: ./app }',
        `shared: { dirs: [${JSON.stringify(`s $(touch ${canary})`)}], files: [${JSON.stringify(`f;touch ${canary}`)}] }`,
        // the hook itself is shell by definition; what it is given (EE_RELEASE_PATH) must arrive as data
        'hooks: { before_switch: [\'test -d "$EE_RELEASE_PATH" && printf "%s" "$EE_DEPLOY_PATH" > "$EE_RELEASE_PATH/.ee-seen-root"\'] }',
        'environments:',
        `  local: { hosts: [{ host: local, path: ${JSON.stringify(root)} }] }`,
        '',
      ].join('\n'),
    );
    const r = await spawnCli(['deploy', '-c', 'ee-deploy.yaml'], { cwd: proj });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(existsSync(canary), 'a metacharacter was executed').toBe(false);
    expect(existsSync(path.join(root, 'current', 'index.html'))).toBe(true);
    expect(existsSync(path.join(root, 'shared', `s $(touch ${canary})`))).toBe(true);
    expect(existsSync(path.join(root, 'shared', `f;touch ${canary}`))).toBe(true);
    expect(execFileSync('cat', [path.join(root, 'current', '.ee-seen-root')], { encoding: 'utf8' })).toBe(root);
  });
});
