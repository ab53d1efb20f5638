/**
 * The shipped artifacts work on their own: dist/ee-deploy.mjs (run by node) and the single
 * executable dist/ee-deploy-linux-x64, each copied alone into an empty directory (no
 * node_modules, no templates/), run `--help`, `init` (embedded template) and a deploy to a
 * local target and to an SSH host. `npm run build` (run by `npm test` first) must have built
 * both: a missing executable fails here, loudly.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../helpers/cli.js';
import { current, projectYaml, releases, server } from '../helpers/deploy-env.js';
import { startSshd, type SshdFixture } from '../helpers/sshd.js';

const SEA = path.join(REPO, 'dist', `ee-deploy-${process.platform}-${process.arch}`);
let tmp: string;
let f: SshdFixture;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-binary-'));
  f = await startSshd({ servers: [server('web1')] });
});
afterAll(async () => {
  await f?.stopAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function run(argv: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), {
      cwd,
      // no NODE_PATH / NODE_OPTIONS from the test runner: the artifact must stand alone
      env: { PATH: process.env.PATH, HOME: f.home, NO_COLOR: '1', GITHUB_ACTOR: 'alice', GIT_CEILING_DIRECTORIES: os.tmpdir(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const artifacts = [
  { name: 'dist/ee-deploy.mjs', file: path.join(REPO, 'dist', 'ee-deploy.mjs'), argv: (p: string) => [process.execPath, p] },
  { name: `dist/${path.basename(SEA)} (single executable)`, file: SEA, argv: (p: string) => [p] },
];

describe.each(artifacts)('$name', ({ file, argv }) => {
  let bin: string[];
  let dir: string;
  beforeAll(() => {
    expect(existsSync(file), `${file} is missing: npm run build must build it`).toBe(true);
    dir = mkdtempSync(path.join(tmp, 'art-'));
    const copy = path.join(dir, 'bin', path.basename(file));
    mkdirSync(path.dirname(copy));
    copyFileSync(file, copy);
    if (!file.endsWith('.mjs')) writeFileSync(copy, readFileSync(file), { mode: 0o755 });
    bin = argv(copy);
  });

  it('--help works and does not load the core (no code cache written)', async () => {
    const cache = path.join(dir, 'cache-help');
    const r = await run([...bin, '--help'], dir, { EE_DEPLOY_CACHE_DIR: cache });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: ee-deploy');
    expect(r.stdout).toContain('Examples:');
    expect(existsSync(cache)).toBe(false);
    const sub = await run([...bin, 'deploy', '--help'], dir);
    expect(sub.code).toBe(0);
    expect(sub.stdout).toContain('--canary-only');
  });

  it('init writes the embedded template; deploys to a local target and over ssh; rolls back', async () => {
    const proj = mkdtempSync(path.join(dir, 'proj-'));
    const env = { EE_DEPLOY_CACHE_DIR: path.join(dir, 'cache') };
    const init = await run([...bin, 'init', '--project', 'shop', '--host', 'local', '--path', './.deploy/shop', '--source', 'app'], proj, env);
    expect(init.stderr).toBe('');
    expect(init.code).toBe(0);
    expect(readFileSync(path.join(proj, 'ee-deploy.yaml'), 'utf8')).toContain('project: shop');
    mkdirSync(path.join(proj, 'app/lib'), { recursive: true });
    writeFileSync(path.join(proj, 'app/index.html'), 'v1\n');
    writeFileSync(path.join(proj, 'app/lib/app.js'), 'x\n');
    let r = await run([...bin, 'deploy', '--yes'], proj, env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const root = path.join(proj, '.deploy/shop');
    expect(readFileSync(path.join(root, 'current/index.html'), 'utf8')).toBe('v1\n');

    // over SSH, twice (the second one incremental), then a rollback
    const remote = path.join(proj, 'remote');
    writeFileSync(path.join(proj, 'ssh.yaml'), projectYaml({ project: 'shop-ssh', hosts: [{ host: 'web1', path: remote }] }).replace('dir: ./app', 'dir: ./app'));
    r = await run([...bin, 'deploy', '-c', 'ssh.yaml'], proj, env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    writeFileSync(path.join(proj, 'app/index.html'), 'v2\n');
    r = await run([...bin, 'deploy', '-c', 'ssh.yaml'], proj, env);
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/uploading 1 changed of 2 files/);
    expect(readFileSync(path.join(remote, 'current/index.html'), 'utf8')).toBe('v2\n');
    const [first] = releases(remote);
    r = await run([...bin, 'rollback', '-c', 'ssh.yaml', '--yes'], proj, env);
    expect(r.code).toBe(0);
    expect(current(remote)).toBe(first);
    expect(readdirSync(remote)).toContain('revisions.log');
  });
});
