/**
 * Encrypted secrets: the file the `age-encryption` package writes is read by the stock `age`
 * CLI (and the reverse), scopes per environment, identity errors as one line (exit 2),
 * `${secret:NAME}` interpolation with redaction, env_file rendering (dotenv quoting).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import { resolveConfig } from '../../src/config/resolve.js';
import { loadConfigWithSecrets } from '../../src/config/secrets-file.js';
import { clearSecrets, redact } from '../../src/config/secrets.js';
import { ConfigError, ExitCode } from '../../src/errors.js';
import { loadIdentity } from '../../src/secrets/age.js';
import { dotenvValue, parseDotenv, renderDotenv } from '../../src/secrets/dotenv.js';
import { readScope, secretsForEnv, writeScope, type SecretsSettings } from '../../src/secrets/store.js';

function keygen(dir: string, name: string): { file: string; recipient: string } {
  const file = path.join(dir, name);
  execFileSync('age-keygen', ['-o', file], { stdio: 'ignore' });
  return { file, recipient: execFileSync('age-keygen', ['-y', file], { encoding: 'utf8' }).trim() };
}

function setup() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ee-secrets-'));
  const alice = keygen(dir, 'alice.key');
  const ops = keygen(dir, 'ops.key');
  const s: SecretsSettings = { dir, recipients: [alice.recipient, ops.recipient], envRecipients: {} };
  return { dir, alice, ops, s };
}

const id = (file: string) => loadIdentity({ EE_DEPLOY_AGE_IDENTITY: file });

afterEach(() => clearSecrets());

describe('secrets file', () => {
  it('is written by age-encryption and read by the stock age CLI, for every recipient', async () => {
    const { dir, alice, ops, s } = setup();
    await writeScope(s, undefined, { API_TOKEN: 'tok en', DB: 'x"y\nz' }, id(alice.file));
    const file = path.join(dir, 'ee-deploy.secrets.age');
    expect(readFileSync(file, 'utf8')).toMatch(/^-----BEGIN AGE ENCRYPTED FILE-----\n/);
    for (const k of [alice, ops]) {
      const plain = JSON.parse(execFileSync('age', ['-d', '-i', k.file, file], { encoding: 'utf8' }));
      expect(plain.values).toEqual({ API_TOKEN: 'tok en', DB: 'x"y\nz' });
    }
  });

  it('reads a file the stock age CLI encrypted', async () => {
    const { dir, alice, s } = setup();
    const doc = JSON.stringify({ 'ee-deploy-secrets': 1, values: { A: '1' }, env: { production: { A: '2' } } });
    execFileSync('age', ['-a', '-r', alice.recipient, '-o', path.join(dir, 'ee-deploy.secrets.age')], { input: doc });
    expect(await readScope(s, undefined, id(alice.file))).toEqual({ A: '1' });
    expect(await secretsForEnv(s, 'production', id(alice.file))).toEqual({ A: '2' });
    expect(await secretsForEnv(s, 'staging', id(alice.file))).toEqual({ A: '1' });
  });

  it('an environment with recipients of its own gets a file only they can read', async () => {
    const { dir, alice, ops, s } = setup();
    s.envRecipients = { production: [ops.recipient] };
    await writeScope(s, undefined, { SHARED: 's' }, id(alice.file));
    await writeScope(s, 'production', { DB: 'prod' }, id(ops.file));
    const prodFile = path.join(dir, 'ee-deploy.secrets.production.age');
    expect(JSON.parse(execFileSync('age', ['-d', '-i', ops.file, prodFile], { encoding: 'utf8' })).values).toEqual({ DB: 'prod' });
    expect(() => execFileSync('age', ['-d', '-i', alice.file, prodFile], { stdio: 'pipe' })).toThrow();
    expect(await secretsForEnv(s, 'production', id(ops.file))).toEqual({ SHARED: 's', DB: 'prod' });
    await expect(readScope(s, 'production', id(alice.file))).rejects.toThrow(/is not one of its recipients/);
  });

  it('a wrong, missing or malformed identity is a one-line error with exit 2', async () => {
    const { dir, alice, s } = setup();
    await writeScope(s, undefined, { A: 'value1' }, id(alice.file));
    const stranger = keygen(dir, 'stranger.key');
    const errs: unknown[] = [];
    for (const env of [{ EE_DEPLOY_AGE_IDENTITY: stranger.file }, { EE_DEPLOY_AGE_IDENTITY: path.join(dir, 'missing.key') }]) {
      try {
        await readScope(s, undefined, loadIdentity(env));
      } catch (e) {
        errs.push(e);
      }
    }
    writeFileSync(path.join(dir, 'bad.key'), 'not a key\n');
    try {
      loadIdentity({ EE_DEPLOY_AGE_IDENTITY: path.join(dir, 'bad.key') });
    } catch (e) {
      errs.push(e);
    }
    expect(errs).toHaveLength(3);
    for (const e of errs) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).exitCode).toBe(ExitCode.usage);
      expect((e as Error).message).not.toMatch(/\n|AGE-SECRET-KEY-1[0-9A-Z]{8}/);
    }
    expect((errs[0] as Error).message).toMatch(/is not one of its recipients/);
    expect((errs[1] as Error).message).toMatch(/does not exist/);
    // the key itself in the variable works too
    const key = readFileSync(alice.file, 'utf8').split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-1'))!;
    expect(await readScope(s, undefined, loadIdentity({ EE_DEPLOY_AGE_IDENTITY: key }))).toEqual({ A: 'value1' });
  });

  it('decrypts 100 secrets in well under 50 ms', async () => {
    const { alice, s } = setup();
    const values = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`S${i}`, `value-${i}-${'x'.repeat(40)}`]));
    await writeScope(s, undefined, values, id(alice.file));
    const identity = id(alice.file);
    await readScope(s, undefined, identity); // warm-up (module loading, JIT)
    // CPU time (this process, all threads) rather than wall time: on a shared, loaded machine the
    // wall clock measures the other processes; the work itself is what the budget is about
    const times: number[] = [];
    const walls: number[] = [];
    for (let i = 0; i < 5; i++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const got = await readScope(s, undefined, identity);
      walls.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      times.push((c.user + c.system) / 1000);
      expect(Object.keys(got)).toHaveLength(100);
    }
    const ms = times.sort((a, b) => a - b)[2];
    console.log(`decrypting 100 secrets (file read + age + JSON), median of 5: ${ms.toFixed(1)} ms CPU, ${walls.sort((a, b) => a - b)[2].toFixed(1)} ms wall`);
    expect(ms).toBeLessThan(50);
  });
});

describe('${secret:NAME} and env_file', () => {
  const yaml = (extra: string) => `project: shop\nhooks:\n  after_switch: ["curl -H 'X: \${secret:API_TOKEN}' x"]\n${extra}environments:\n  production:\n    hosts: [{ host: local, path: /tmp/x }]\n`;

  it('interpolates wherever ${VAR} does, as a secret', () => {
    const raw = parseConfigText(yaml(''), '/p/ee-deploy.yaml', {}, { secret: (n) => (n === 'API_TOKEN' ? 'tok-123' : undefined) });
    expect(raw.hooks.after_switch[0]).toBe("curl -H 'X: tok-123' x");
    expect(redact('token tok-123 leaked')).toBe('token *** leaked');
  });

  it('an unknown secret is a config error at file:line:col naming it; $${secret:X} is literal', () => {
    expect(() => parseConfigText(yaml(''), '/p/ee-deploy.yaml', {}, { secret: () => undefined })).toThrow(/^\/p\/ee-deploy\.yaml:3:\d+: secret API_TOKEN is not set/);
    const raw = parseConfigText(yaml('').replace('${secret', () => '$${secret'), '/p/ee-deploy.yaml', {});
    expect(raw.hooks.after_switch[0]).toContain('${secret:API_TOKEN}');
  });

  it('env_file renders the chosen secrets and is linked like a shared file', async () => {
    const { dir, alice, s } = setup();
    await writeScope(s, undefined, { API_TOKEN: 'tok', DB_URL: "postgres://u:p w@h/db", NOT_USED: 'zzz' }, id(alice.file));
    const file = path.join(dir, 'ee-deploy.yaml');
    writeFileSync(file, `secrets: { recipients: [${alice.recipient}] }\nenv_file: { path: config/.env, from: [DB_URL, API_TOKEN] }\n` + yaml(''));
    const loaded = await loadConfigWithSecrets(file, undefined, { ...process.env, EE_DEPLOY_AGE_IDENTITY: alice.file });
    expect(loaded.secrets).toBeDefined();
    const prev = process.env.EE_DEPLOY_AGE_IDENTITY;
    const r = resolveConfig(loaded);
    expect(r.envFile).toEqual({ path: 'config/.env', content: "DB_URL='postgres://u:p w@h/db'\nAPI_TOKEN=tok\n" });
    expect(r.raw.shared.files).toContain('config/.env');
    expect(prev).toBe(process.env.EE_DEPLOY_AGE_IDENTITY);
  });
});

describe('dotenv', () => {
  it.each([
    ['plain', 'plain'],
    ['with space', "'with space'"],
    ['a$b', "'a$b'"],
    ["it's", `"it's"`],
    ['line1\nline2', '"line1\\nline2"'],
    ['q"\\$x\n', '"q\\"\\\\\\$x\\n"'],
    ['', ''],
  ])('%j -> %s and back', (v, text) => {
    expect(dotenvValue(v)).toBe(text);
    expect(parseDotenv(renderDotenv({ K: v }))).toEqual({ K: v });
  });

  it('parse errors name the line', () => {
    expect(() => parseDotenv('A=1\nnot a line\n')).toThrow(/line 2/);
    expect(parseDotenv('# c\n\nexport B=2\n')).toEqual({ B: '2' });
  });
});

it('no plaintext secrets file is ever left beside the config', async () => {
  const { dir, alice, s } = setup();
  await writeScope(s, undefined, { A: 'x' }, id(alice.file));
  expect(existsSync(path.join(dir, 'ee-deploy.secrets.age'))).toBe(true);
  expect(execFileSync('ls', ['-a', dir], { encoding: 'utf8' }).split('\n').filter((f) => f.includes('tmp'))).toEqual([]);
});
