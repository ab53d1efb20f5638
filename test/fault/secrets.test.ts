/**
 * Secrets: a value that came from ${VAR} in ee-deploy.yaml, used in a hook and in a
 * notification webhook header, never shows up in stdout, stderr, --json, --dry-run, the history,
 * revisions.log, any file of the deploy tree or a notification body, even when a failing hook
 * echoes it on stdout and stderr (and with --verbose). The secret does reach its destinations:
 * the webhook gets it as its Authorization header, the hook gets it (it stores a hash).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, lstatSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { faultEnv, spawnCli, type Run } from './harness.js';

const SECRET = `Zq9-s3cr3t-${randomBytes(8).toString('hex')}`;
const SHA = createHash('sha256').update(SECRET).digest('hex');

let dir: string;
let root: string;
let server: Server;
let url: string;
const received: { headers: Record<string, string | string[] | undefined>; body: string }[] = [];
const runs: Run[] = [];

function writeConfig(failing: boolean): string {
  const file = path.join(dir, failing ? 'failing.yaml' : 'ok.yaml');
  const hooks = failing
    ? ['echo "the token is ${SECRET_TOKEN}"; echo "${SECRET_TOKEN}" >&2; exit 3']
    : ['echo "the token is ${SECRET_TOKEN}"', 'printf %s "${SECRET_TOKEN}" | sha256sum | cut -c1-64 > "$EE_DEPLOY_PATH/shared/token.sha"'];
  writeFileSync(
    file,
    [
      'project: secretive',
      'source: { dir: ./app }',
      'shared: { dirs: [] }',
      'hooks:',
      `  before_switch: ${JSON.stringify(hooks)}`,
      `  after_switch: ["echo after \${SECRET_TOKEN}"]`,
      'notifications:',
      '  on: [started, success, failure, rollback, warning]',
      '  webhooks:',
      `    - { url: ${JSON.stringify(url)}, headers: { Authorization: "Bearer \${SECRET_TOKEN}", X-Note: "token \${SECRET_TOKEN} here" } }`,
      'environments:',
      `  local: { hosts: [{ host: local, path: ${JSON.stringify(root)} }] }`,
      '',
    ].join('\n'),
  );
  return file;
}

async function cli(args: string[]): Promise<Run> {
  const r = await spawnCli(args, { cwd: dir, env: faultEnv({ SECRET_TOKEN: SECRET }) });
  runs.push(r);
  return r;
}

function allFiles(d: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(d)) {
    const p = path.join(d, e);
    const st = lstatSync(p);
    if (st.isDirectory()) out.push(...allFiles(p));
    else if (st.isFile()) out.push(p);
  }
  return out;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ee-secret-'));
  root = path.join(dir, 'target');
  mkdirSync(path.join(dir, 'app'));
  writeFileSync(path.join(dir, 'app', 'index.html'), 'secret-free\n');
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
});

describe('a ${VAR} secret never leaks', () => {
  it('deploy (plain, --verbose, --json, --dry-run), a failing deploy, history, releases, check', async () => {
    const ok = writeConfig(false);
    const failing = writeConfig(true);
    const plain = await cli(['deploy', '-c', ok]);
    expect(plain.code, plain.stderr).toBe(0);
    const verbose = await cli(['deploy', '-c', ok, '-v']);
    expect(verbose.code, verbose.stderr).toBe(0);
    // the hook's output is shown with --verbose: the secret it echoed is masked
    expect(verbose.stdout).toMatch(/the token is \*\*\*/);
    const json = await cli(['deploy', '-c', ok, '--json']);
    expect(json.code, json.stderr).toBe(0);
    JSON.parse(json.stdout);
    const dry = await cli(['deploy', '-c', ok, '--dry-run', '-v']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/\*\*\*/);

    for (const extra of [[], ['-v'], ['--json'], ['--json', '-v']]) {
      const bad = await cli(['deploy', '-c', failing, ...extra]);
      expect(bad.code, `${bad.stdout}\n${bad.stderr}`).toBe(1);
      expect(bad.stderr).toMatch(/before_switch hook #1/);
    }
    for (const args of [['history', '-c', ok], ['history', '-c', ok, '--json'], ['releases', '-c', ok], ['releases', '-c', ok, '--json'], ['check', '-c', ok], ['check', '-c', ok, '--json', '-v']]) {
      const r = await cli(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }

    for (const r of runs) {
      expect(r.stdout.includes(SECRET), `stdout of a run:\n${r.stdout}`).toBe(false);
      expect(r.stderr.includes(SECRET), `stderr of a run:\n${r.stderr}`).toBe(false);
    }

    // on disk: history, revisions.log, every file of the deploy tree, the registry
    const files = [...allFiles(root), ...allFiles(faultEnv().XDG_CONFIG_HOME!)];
    expect(files.some((f) => f.endsWith('history.jsonl'))).toBe(true);
    expect(files.some((f) => f.endsWith('revisions.log'))).toBe(true);
    for (const f of files) expect(readFileSync(f, 'latin1').includes(SECRET), f).toBe(false);
    const history = readFileSync(path.join(root, '.ee-deploy', 'history.jsonl'), 'utf8');
    expect(history).toMatch(/"status":"failed"/);

    // the hook did get the real value
    expect(readFileSync(path.join(root, 'shared', 'token.sha'), 'utf8').trim()).toBe(SHA);

    // notifications: sent with the secret in the header (its purpose), never in a body
    expect(received.length).toBeGreaterThanOrEqual(8);
    for (const n of received) {
      expect(n.headers.authorization).toBe(`Bearer ${SECRET}`);
      expect(n.body.includes(SECRET), n.body).toBe(false);
    }
    const failures = received.filter((n) => /"status":"failed"/.test(n.body));
    expect(failures.length).toBeGreaterThanOrEqual(4);
    // the failure notice carries the error, with the echoed secret masked
    expect(failures.some((n) => n.body.includes('***'))).toBe(true);
  });
});
