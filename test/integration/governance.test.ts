/**
 * Governance end to end over a real OpenSSH server and the real `age` CLI: secrets commands,
 * `${secret:NAME}` redacted in a deploy, env_file on the server (0600), `verify` (clean, drift,
 * exit 7) and `diff` (add/change/remove, bytes, --json), touching nothing.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshd, type SshdFixture } from '../helpers/sshd.js';
import { cli, current, jsonDoc, newProject, projectYaml, releases, server, type Project, type ProjectSpec } from '../helpers/deploy-env.js';

let f: SshdFixture;
let tmp: string;
let keyFile: string;
let recipient: string;

beforeAll(async () => {
  f = await startSshd({ servers: [server('web1'), server('web2')] });
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-gov-'));
  keyFile = path.join(tmp, 'age.key');
  execFileSync('age-keygen', ['-o', keyFile], { stdio: 'ignore' });
  recipient = execFileSync('age-keygen', ['-y', keyFile], { encoding: 'utf8' }).trim();
});

afterAll(async () => {
  await f?.stopAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function project(extra: string, spec: Partial<ProjectSpec> = {}): { p: Project; root: string } {
  const root = mkdtempSync(path.join(tmp, 'root-'));
  const s: ProjectSpec = { hosts: [{ host: 'web1', path: root }], ...spec };
  const p = newProject(s);
  writeFileSync(p.config, `${extra}\n${projectYaml(s)}`);
  return { p, root };
}

const run = (p: Project, args: string[], o: { input?: string; env?: NodeJS.ProcessEnv } = {}) => cli(f.home, p.dir, args, { input: o.input, env: { EE_DEPLOY_AGE_IDENTITY: keyFile, ...o.env } });

describe('secrets', () => {
  it('set (stdin) / get / list / rm / edit; the file is what the stock age CLI decrypts', async () => {
    const { p } = project(`secrets: { recipients: [${recipient}] }`);
    expect((await run(p, ['secrets', 'set', 'API_TOKEN'], { input: 'tok-123\n' })).code).toBe(0);
    expect((await run(p, ['secrets', 'set', 'DB_PASSWORD', '-e', 'production'], { input: 'pw with spaces' })).code).toBe(0);
    expect((await run(p, ['secrets', 'get', 'API_TOKEN'])).stdout).toBe('tok-123\n');
    expect((await run(p, ['secrets', 'list'])).stdout).toBe('API_TOKEN\n');
    const l = await run(p, ['secrets', 'list', '-e', 'production', '--json']);
    expect(jsonDoc(l.stdout).names).toEqual(['DB_PASSWORD']);
    expect(l.stdout).not.toContain('pw with spaces');
    const plain = JSON.parse(execFileSync('age', ['-d', '-i', keyFile, path.join(p.dir, 'ee-deploy.secrets.age')], { encoding: 'utf8' }));
    expect(plain).toMatchObject({ values: { API_TOKEN: 'tok-123' }, env: { production: { DB_PASSWORD: 'pw with spaces' } } });

    // edit: $EDITOR gets NAME=VALUE lines in a private file, which is gone afterwards
    const seen = path.join(tmp, 'seen');
    const editor = path.join(tmp, 'editor.sh');
    writeFileSync(editor, `#!/bin/sh\nstat -c %a "$1" > ${seen}.mode\ncp "$1" ${seen}\necho "$1" > ${seen}.path\nprintf 'NEW_ONE="a\\\\nb"\\n' >> "$1"\nsed -i 's/^API_TOKEN=.*/API_TOKEN=tok-456/' "$1"\n`);
    chmodSync(editor, 0o755);
    const e = await run(p, ['secrets', 'edit'], { env: { EDITOR: editor, VISUAL: undefined } });
    expect(e.code, e.stderr).toBe(0);
    expect(readFileSync(`${seen}.mode`, 'utf8').trim()).toBe('600');
    expect(readFileSync(seen, 'utf8')).toContain('API_TOKEN=tok-123\n');
    expect(existsSync(readFileSync(`${seen}.path`, 'utf8').trim())).toBe(false);
    expect((await run(p, ['secrets', 'get', 'API_TOKEN'])).stdout).toBe('tok-456\n');
    expect((await run(p, ['secrets', 'get', 'NEW_ONE'])).stdout).toBe('a\nb\n');
    expect((await run(p, ['secrets', 'rm', 'NEW_ONE'])).code).toBe(0);
    expect((await run(p, ['secrets', 'list'])).stdout).toBe('API_TOKEN\n');
  });

  it('a wrong or missing identity: one line, exit 2, nothing touched (no connection, no release)', async () => {
    const { p, root } = project(`secrets: { recipients: [${recipient}] }`, { hooks: { after_switch: ['echo token=${secret:API_TOKEN}'] } });
    expect((await run(p, ['secrets', 'set', 'API_TOKEN'], { input: 'tok-789' })).code).toBe(0);
    const other = path.join(tmp, 'other.key');
    if (!existsSync(other)) execFileSync('age-keygen', ['-o', other], { stdio: 'ignore' });
    const before = readFileSync(path.join(p.dir, 'ee-deploy.secrets.age'));
    for (const env of [{ EE_DEPLOY_AGE_IDENTITY: other }, { EE_DEPLOY_AGE_IDENTITY: path.join(tmp, 'nope.key') }]) {
      for (const args of [['deploy'], ['secrets', 'set', 'X']]) {
        const r = await run(p, args, { env, input: 'v' });
        expect(r.code, r.stderr).toBe(2);
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
        expect(r.stderr).toMatch(/^error: (cannot decrypt ee-deploy\.secrets\.age: the identity from .* is not one of its recipients|no age identity: .* does not exist)/);
      }
    }
    expect(readFileSync(path.join(p.dir, 'ee-deploy.secrets.age'))).toEqual(before);
    expect(existsSync(path.join(root, 'releases'))).toBe(false);
  });
});

describe('secrets in a deploy', () => {
  it('${secret:NAME} reaches the hook but never the output or history; env_file lands in shared/ with mode 0600, linked', async () => {
    const extra = `secrets: { recipients: [${recipient}] }\nenv_file: { path: config/app.env, from: [DB_URL, API_TOKEN] }`;
    const { p, root } = project(extra, { hooks: { after_switch: ['echo "token=${secret:API_TOKEN}"', 'cat config/app.env > /dev/null && echo read-ok'] } });
    expect((await run(p, ['secrets', 'set', 'API_TOKEN'], { input: 'tok-SECRET-42' })).code).toBe(0);
    expect((await run(p, ['secrets', 'set', 'DB_URL'], { input: "postgres://u:p'w@db/app" })).code).toBe(0);
    const d = await run(p, ['deploy', '-v']);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout + d.stderr).toContain('token=***');
    expect(d.stdout + d.stderr).toContain('read-ok');
    expect(d.stdout + d.stderr).not.toContain('tok-SECRET-42');
    const envFile = path.join(root, 'shared', 'config', 'app.env');
    expect(readFileSync(envFile, 'utf8')).toBe(`DB_URL="postgres://u:p'w@db/app"\nAPI_TOKEN=tok-SECRET-42\n`);
    expect(statSync(envFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(path.join(root, 'current', 'config', 'app.env'), 'utf8')).toContain('API_TOKEN=tok-SECRET-42');
    expect(readFileSync(path.join(root, '.ee-deploy', 'history.jsonl'), 'utf8')).not.toContain('tok-SECRET-42');
    expect(readdirSync(path.join(root, 'shared', 'config'))).toEqual(['app.env']);
    // a changed secret is rendered again by the next deploy
    expect((await run(p, ['secrets', 'set', 'API_TOKEN'], { input: 'tok-NEW' })).code).toBe(0);
    expect((await run(p, ['deploy'])).code).toBe(0);
    expect(readFileSync(envFile, 'utf8')).toContain('API_TOKEN=tok-NEW\n');
  });
});

describe('verify and diff', () => {
  let p: Project;
  let root: string;
  let root2: string;

  beforeAll(async () => {
    root2 = mkdtempSync(path.join(tmp, 'root2-'));
    ({ p, root } = project('', { hosts: [], sharedDirs: ['storage'], sharedFiles: ['config/.env'] }));
    const spec: ProjectSpec = { hosts: [{ host: 'web1', path: root }, { host: 'web2', path: root2 }], sharedDirs: ['storage'], sharedFiles: ['config/.env'] };
    p.write(spec);
    writeFileSync(path.join(p.app, 'data.bin'), Buffer.alloc(5000, 7));
    const d = await run(p, ['deploy']);
    expect(d.code, d.stderr).toBe(0);
  });

  it('a fresh release is clean on every host; shared links and REVISION are not drift', async () => {
    writeFileSync(path.join(root, 'shared', 'storage', 'upload.jpg'), 'user data');
    const r = await run(p, ['verify']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^web1: \d{14} clean \(3 files match the manifest\)\nweb2: \d{14} clean/);
  });

  it('drift on one host: modified, added, missing listed per host; exit 7; --json is one document', async () => {
    const rel = path.join(root, 'releases', current(root)!);
    appendFileSync(path.join(rel, 'index.html'), '<script>evil()</script>');
    writeFileSync(path.join(rel, 'shell.php'), '<?php system($_GET[1]);');
    unlinkSync(path.join(rel, 'lib', 'app.js'));
    chmodSync(path.join(rel, 'data.bin'), 0o4755);
    const r = await run(p, ['verify']);
    expect(r.code).toBe(7);
    expect(r.stdout).toContain('web1: ' + current(root) + ' DRIFT: 2 modified, 1 added, 1 missing');
    expect(r.stdout).toMatch(/modified index\.html \(size \d+ -> \d+, content\)/);
    expect(r.stdout).toMatch(/modified data\.bin \(mode 644 -> 4755\)/);
    expect(r.stdout).toContain('added    shell.php');
    expect(r.stdout).toContain('missing  lib/app.js');
    expect(r.stdout).toMatch(/web2: \d{14} clean/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: web1: \d{14} differs from its manifest \(4 paths\)/);
    const j = await run(p, ['verify', '--json']);
    expect(j.code).toBe(7);
    const doc = jsonDoc(j.stdout);
    expect(doc.exitCode).toBe(7);
    expect(doc.result.hosts.map((h: { state: string }) => h.state)).toEqual(['drift', 'clean']);
    expect(doc.result.hosts[0].missing).toEqual(['lib/app.js']);
  });

  it('--release names another release; an unknown one cannot be verified (exit 7)', async () => {
    const r = await run(p, ['verify', '--hosts', 'web2', '--release', current(root2)!]);
    expect(r.code, r.stderr).toBe(0);
    const bad = await run(p, ['verify', '--hosts', 'web2', '--release', '20000101000000']);
    expect(bad.code).toBe(7);
    expect(bad.stdout).toContain('CANNOT VERIFY release 20000101000000 does not exist');
  });

  it('diff: what a deploy would add, change, remove, with bytes to send; touches nothing', async () => {
    writeFileSync(path.join(p.app, 'index.html'), '<h1>v2</h1>\n');
    writeFileSync(path.join(p.app, 'new.css'), 'body{}\n');
    rmSync(path.join(p.app, 'data.bin'));
    const snapshot = (r: string) => execFileSync('sh', ['-c', `cd ${r} && find . -exec stat -c '%n %s %Y' {} + | sort`], { encoding: 'utf8' });
    const before = snapshot(root2);
    const r = await run(p, ['diff', '--hosts', 'web2']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^web2: against \d{14}: 1 to add, 1 to change, 1 to remove, 19 B to send\n/);
    expect(r.stdout).toContain('  + new.css (7 B)\n');
    expect(r.stdout).toContain('  ~ index.html (12 B)\n');
    expect(r.stdout).toContain('  - data.bin (4.9 KiB)\n');
    const j = jsonDoc((await run(p, ['diff', '--json'])).stdout);
    expect(j.hosts.map((h: { host: string }) => h.host)).toEqual(['web1', 'web2']);
    expect(j.hosts[1]).toMatchObject({ state: 'diff', bytes: 19, add: [{ path: 'new.css', size: 7 }], change: [{ path: 'index.html', size: 12 }], remove: [{ path: 'data.bin', size: 5000 }] });
    expect(snapshot(root2)).toBe(before);
    expect(releases(root2)).toHaveLength(1);
  });
});
