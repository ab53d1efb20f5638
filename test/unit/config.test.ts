/**
 * ee-deploy.yaml: parse errors and schema errors as one line with file:line:col, ${VAR}
 * interpolation, durations, defaults.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfigFile, parseConfigText } from '../../src/config/load.js';
import { resolveConfig } from '../../src/config/resolve.js';
import { interpolate } from '../../src/config/interpolate.js';
import { lookupProject } from '../../src/config/registry.js';
import { clearSecrets, redact } from '../../src/config/secrets.js';
import { parseDuration } from '../../src/config/duration.js';
import { ConfigError, ExitCode, UsageError } from '../../src/errors.js';

const FILE = '/p/ee-deploy.yaml';
const HOSTS = `environments:\n  production:\n    hosts:\n      - host: web1\n        path: /srv/shop\n`;
const ok = (body: string) => `project: shop\n${body}${HOSTS}`;

function configError(text: string, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    parseConfigText(text, FILE, env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    const err = e as ConfigError;
    expect(err.exitCode).toBe(ExitCode.usage);
    expect(err.message).not.toMatch(/\n/);
    return err;
  }
  throw new Error('expected a ConfigError');
}

afterEach(() => clearSecrets());

describe('errors with file:line:col', () => {
  it('malformed YAML', () => {
    const e = configError('project: shop\nsource:\n  dir: ./dist\n   exclude: [a\n');
    expect(e.message).toMatch(/^\/p\/ee-deploy\.yaml:[34]:\d+: invalid YAML: /);
  });

  it('an unclosed flow sequence', () => {
    expect(configError('project: shop\nkeep_releases: [1, 2\n').message).toMatch(/^\/p\/ee-deploy\.yaml:\d+:\d+: invalid YAML: /);
  });

  it('a duplicate key', () => {
    expect(configError('project: shop\nproject: shop2\n').message).toMatch(/^\/p\/ee-deploy\.yaml:2:1: invalid YAML: .*[Dd]uplicate|unique/);
  });

  it('not a mapping', () => {
    expect(configError('- a\n- b\n').message).toBe('/p/ee-deploy.yaml:1:1: the config must be a YAML mapping (key: value pairs)');
  });

  it('unknown key at the top level, with did-you-mean', () => {
    const e = configError(ok('keep_relases: 3\n'));
    expect(e.message).toBe('/p/ee-deploy.yaml:2:1: unknown key "keep_relases" (did you mean "keep_releases"?)');
    expect(e.location).toBe('/p/ee-deploy.yaml:2:1');
  });

  it('unknown nested key, with did-you-mean', () => {
    expect(configError(ok('hooks:\n  before_swich: [x]\n')).message).toBe('/p/ee-deploy.yaml:3:3: unknown key "before_swich" in hooks (did you mean "before_switch"?)');
    expect(configError(ok('health_checks:\n  - name: a\n    http: http://x/\n    expct: { status: 200 }\n')).message).toBe(
      '/p/ee-deploy.yaml:5:5: unknown key "expct" in health_checks[0] (did you mean "expect"?)',
    );
  });

  it('unknown key without a close match', () => {
    expect(configError(ok('zzzzzz: 1\n')).message).toBe('/p/ee-deploy.yaml:2:1: unknown key "zzzzzz"');
  });

  it('bad duration', () => {
    const e = configError(ok('health_defaults:\n  timeout: 5 seconds\n'));
    expect(e.message).toMatch(/^\/p\/ee-deploy\.yaml:3:12: health_defaults\.timeout: invalid duration "5 seconds" \(use e\.g\. 500ms, 5s, 2m/);
    expect(configError(ok('health_defaults:\n  backoff: { initial: -1s }\n')).message).toMatch(/^\/p\/ee-deploy\.yaml:3:\d+: health_defaults\.backoff\.initial: invalid duration "-1s"/);
  });

  it('negative or zero keep_releases', () => {
    expect(configError(ok('keep_releases: -1\n')).message).toBe('/p/ee-deploy.yaml:2:16: keep_releases: keep_releases must be >= 1');
    expect(configError(ok('keep_releases: 0\n')).message).toMatch(/^\/p\/ee-deploy\.yaml:2:16: keep_releases: /);
    expect(configError(ok('keep_releases: 2.5\n')).message).toMatch(/^\/p\/ee-deploy\.yaml:2:16: keep_releases: /);
  });

  it('a wrong type names what it got', () => {
    expect(configError(ok('keep_releases: five\n')).message).toBe('/p/ee-deploy.yaml:2:16: keep_releases: expected number, got string "five"');
  });

  it('a missing required key', () => {
    expect(configError(HOSTS).message).toMatch(/^\/p\/ee-deploy\.yaml:1:1: project: missing required key$/);
  });

  it('an invalid project name', () => {
    expect(configError(`project: My Shop\n${HOSTS}`).message).toBe('/p/ee-deploy.yaml:1:10: project: project must match [a-z0-9][a-z0-9._-]{0,62}');
  });

  it('shared paths may not escape', () => {
    expect(configError(ok('shared:\n  dirs: [../etc]\n')).message).toMatch(/^\/p\/ee-deploy\.yaml:3:\d+: shared\.dirs\[0\]: must be a relative path/);
    expect(configError(ok('shared:\n  files: [/etc/passwd]\n')).message).toMatch(/shared\.files\[0\]: must be a relative path/);
  });

  it('an exclude pattern that can never match', () => {
    expect(configError(ok('source:\n  exclude: [.git, "!"]\n')).message).toBe('/p/ee-deploy.yaml:3:19: source.exclude[1]: exclude pattern "!" matches nothing (empty, or a character range out of order)');
    expect(configError(ok('source:\n  exclude: ["log[9-0]"]\n')).message).toMatch(/^\/p\/ee-deploy\.yaml:3:\d+: source\.exclude\[0\]: exclude pattern "log\[9-0\]" matches nothing/);
  });

  it('a missing file', () => {
    expect(() => loadConfigFile('/nonexistent/ee-deploy.yaml')).toThrow(/config file not found: \/nonexistent\/ee-deploy\.yaml \(run `ee-deploy init`/);
  });
});

describe('${VAR} interpolation', () => {
  it('reads the environment in every string value, hooks included; values are secrets', () => {
    const raw = parseConfigText(ok('hooks:\n  after_switch: ["curl -H \'X: ${TOKEN}\' ${URL}/reload"]\n'), FILE, { TOKEN: 'tok-123', URL: 'https://x' });
    expect(raw.hooks.after_switch).toEqual(["curl -H 'X: tok-123' https://x/reload"]);
    expect(redact('sent tok-123')).toBe('sent ***');
  });

  it('an unset ${VAR} is an error naming VAR, at its position', () => {
    const e = configError(ok('notifications:\n  slack: { webhook_url: "${SLACK_WEBHOOK_URL}" }\n'), {});
    expect(e.message).toBe('/p/ee-deploy.yaml:3:25: environment variable SLACK_WEBHOOK_URL is not set (used as ${SLACK_WEBHOOK_URL}; write $${SLACK_WEBHOOK_URL} for a literal)');
  });

  it('$${VAR} is a literal ${VAR}; a bare $VAR is left for the shell', () => {
    const raw = parseConfigText(ok('hooks:\n  before_switch: ["echo $${HOME} $HOME ${A}"]\n'), FILE, { A: 'aaa' });
    expect(raw.hooks.before_switch).toEqual(['echo ${HOME} $HOME aaa']);
    expect(redact('${HOME} $HOME')).toBe('${HOME} $HOME');
  });

  it('keys are not interpolated', () => {
    expect(configError(ok('${X}: 1\n'), { X: 'keep_releases' }).message).toMatch(/unknown key "\$\{X\}"/);
  });
});

describe('durations and defaults', () => {
  it.each([
    ['500ms', 500],
    ['5s', 5000],
    ['1.5s', 1500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    [' 5s ', 5000],
    [250, 250],
    ['5', undefined],
    ['5 sec', undefined],
    ['-1s', undefined],
    ['', undefined],
    [-1, undefined],
  ] as const)('parseDuration(%j) = %s', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it('durations in the config become milliseconds; defaults fill the rest', () => {
    const raw = parseConfigText(ok('health_defaults: { timeout: 500ms, retries: 2, backoff: { initial: 1s, max: 2m } }\n'), FILE, {});
    expect(raw.health_defaults).toEqual({ timeout: 500, retries: 2, backoff: { initial: 1000, factor: 2, max: 120_000, jitter: false } });
    expect(raw.keep_releases).toBe(5);
    expect(raw.source).toMatchObject({ dir: '.', exclude: ['.git', 'node_modules'] });
    expect(raw.hooks).toEqual({ before_upload: [], before_switch: [], after_switch: [], after_rollback: [] });
  });
});

describe('resolveConfig', () => {
  it('an environment is optional when there is only one; local paths resolve against the config dir', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ee-config-'));
    const file = path.join(dir, 'ee-deploy.yaml');
    writeFileSync(file, 'project: shop\nsource: { dir: ./dist }\nenvironments:\n  local:\n    hosts: [{ host: local, path: ./.deploy/shop }]\n');
    const c = resolveConfig(loadConfigFile(file));
    expect(c.envName).toBe('local');
    expect(c.sourceDir).toBe(path.join(dir, 'dist'));
    expect(c.hosts).toEqual([expect.objectContaining({ name: 'local', id: 'local', local: true, path: path.join(dir, '.deploy/shop') })]);
  });

  it('with several environments, -e is required and must exist (usage errors)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ee-config-'));
    const file = path.join(dir, 'ee-deploy.yaml');
    writeFileSync(file, 'project: shop\nenvironments:\n  staging: { hosts: [{ host: web1, path: "~/shop/" }] }\n  production: { hosts: [{ host: web2, path: /srv/shop }] }\n');
    const loaded = loadConfigFile(file);
    expect(() => resolveConfig(loaded)).toThrow(UsageError);
    expect(() => resolveConfig(loaded)).toThrow('choose an environment with -e/--env (one of: staging, production)');
    expect(() => resolveConfig(loaded, 'prod')).toThrow('unknown environment "prod" (one of: staging, production)');
    // names of Object.prototype's members are environments like any other: unknown here
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty'])
      expect(() => resolveConfig(loaded, name)).toThrow(`unknown environment "${name}" (one of: staging, production)`);
    // `~/` over SSH is the login directory: a relative path, trailing slash dropped
    expect(resolveConfig(loaded, 'staging').hosts[0]).toMatchObject({ name: 'web1', local: false, path: 'shop' });
  });
});

describe('prototype names are plain names', () => {
  it('${constructor} is an unset variable, not a member of Object.prototype', () => {
    expect(interpolate('a${constructor}b${toString}', { PATH: '/bin' })).toMatchObject({ value: 'ab', missing: ['constructor', 'toString'] });
  });

  it('a project named constructor or __proto__ is not registered', () => {
    const saved = process.env.XDG_CONFIG_HOME;
    process.env.XDG_CONFIG_HOME = mkdtempSync(path.join(os.tmpdir(), 'ee-registry-'));
    try {
      for (const name of ['constructor', '__proto__', 'toString']) expect(lookupProject(name)).toBeUndefined();
    } finally {
      if (saved === undefined) delete process.env.XDG_CONFIG_HOME;
      else process.env.XDG_CONFIG_HOME = saved;
    }
  });
});

describe('the project registry', () => {
  it('is private to its user (0600 in a 0700 directory)', async () => {
    const { registerProject, registryFile } = await import('../../src/config/registry.js');
    const { statSync } = await import('node:fs');
    const saved = process.env.XDG_CONFIG_HOME;
    process.env.XDG_CONFIG_HOME = path.join(mkdtempSync(path.join(os.tmpdir(), 'ee-registry-')), 'cfg');
    try {
      registerProject('shop', '/srv/shop/ee-deploy.yaml');
      expect(statSync(registryFile()).mode & 0o777).toBe(0o600);
      expect(statSync(path.dirname(registryFile())).mode & 0o777).toBe(0o700);
      expect(lookupProject('shop')).toBe('/srv/shop/ee-deploy.yaml');
    } finally {
      if (saved === undefined) delete process.env.XDG_CONFIG_HOME;
      else process.env.XDG_CONFIG_HOME = saved;
    }
  });
});
