/**
 * action.yml run as the runner would: each composite step's script in bash with its inputs,
 * GITHUB_ENV/GITHUB_PATH applied between steps, the single executable fetched from binary-url
 * (a file:// URL to a launcher of dist/), the SSH key given as an input (loaded into an agent,
 * never on disk), known_hosts from an input, a deploy over the test sshd. Then the summary,
 * outputs and `::error::` lines ee-deploy writes under GITHUB_ACTIONS=true.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, REPO } from '../helpers/cli.js';
import { server } from '../helpers/deploy-env.js';
import { startSshd, type SshdFixture } from '../helpers/sshd.js';

interface Step {
  name: string;
  id?: string;
  if?: string;
  run: string;
  env?: Record<string, string>;
}
const action = parse(readFileSync(path.join(REPO, 'action.yml'), 'utf8')) as {
  inputs: Record<string, { default?: string }>;
  outputs: Record<string, { value: string }>;
  runs: { using: string; steps: Step[] };
};

let f: SshdFixture;
let tmp: string;

beforeAll(async () => {
  f = await startSshd({ servers: [server('web1')] });
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-action-'));
});
afterAll(async () => {
  await f?.stopAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** runs the composite action; returns the job's files and the run step's output */
function runAction(inputs: Record<string, string>, workspace: string, actionPath = REPO) {
  const job = mkdtempSync(path.join(tmp, 'job-'));
  const home = path.join(job, 'home');
  mkdirSync(home);
  const files = { GITHUB_ENV: 'env', GITHUB_PATH: 'path', GITHUB_STEP_SUMMARY: 'summary.md' };
  for (const v of Object.values(files)) writeFileSync(path.join(job, v), '');
  const values: Record<string, string> = {};
  for (const [k, v] of Object.entries(action.inputs)) values[k] = inputs[k] ?? v.default ?? '';
  const extraEnv: Record<string, string> = {};
  const extraPath: string[] = [];
  const outputs: Record<string, string> = {};
  let stdout = '';
  let failed: number | undefined;
  for (const step of action.runs.steps) {
    if (failed !== undefined && step.if !== 'always()') continue;
    const out = path.join(job, `out-${step.id ?? step.name.replace(/\W+/g, '-')}`);
    writeFileSync(out, '');
    const env: NodeJS.ProcessEnv = {
      PATH: [...extraPath, path.dirname(process.execPath), process.env.PATH].join(':'),
      HOME: home,
      RUNNER_TEMP: job,
      GITHUB_ENV: path.join(job, files.GITHUB_ENV),
      GITHUB_PATH: path.join(job, files.GITHUB_PATH),
      GITHUB_STEP_SUMMARY: path.join(job, files.GITHUB_STEP_SUMMARY),
      GITHUB_OUTPUT: out,
      GITHUB_ACTOR: 'octocat',
      GITHUB_ACTION_PATH: actionPath,
      GIT_CEILING_DIRECTORIES: os.tmpdir(),
      NO_COLOR: '1',
      ...extraEnv,
    };
    for (const [k, v] of Object.entries(step.env ?? {})) env[k] = v.replace(/\$\{\{ inputs\.([\w-]+) \}\}/g, (_m, name: string) => values[name]);
    const r = spawnSync('bash', ['-e', '-c', step.run], { cwd: workspace, env, encoding: 'utf8', timeout: 60_000 });
    stdout += r.stdout;
    if (r.status !== 0 && failed === undefined) failed = r.status ?? -1;
    // the runner applies GITHUB_ENV / GITHUB_PATH to the following steps
    for (const l of readFileSync(env.GITHUB_ENV!, 'utf8').split('\n').filter(Boolean)) {
      const i = l.indexOf('=');
      extraEnv[l.slice(0, i)] = l.slice(i + 1);
    }
    for (const l of readFileSync(env.GITHUB_PATH!, 'utf8').split('\n').filter(Boolean)) if (!extraPath.includes(l)) extraPath.unshift(l);
    if (step.id === 'run') for (const l of readFileSync(out, 'utf8').split('\n').filter(Boolean)) outputs[l.slice(0, l.indexOf('='))] = l.slice(l.indexOf('=') + 1);
  }
  return { failed, stdout, outputs, summary: readFileSync(path.join(job, files.GITHUB_STEP_SUMMARY), 'utf8'), home, agentPid: extraEnv.EE_ACTION_AGENT_PID };
}

function launcher(): string {
  const p = path.join(tmp, 'ee-deploy-launcher');
  writeFileSync(p, `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
  chmodSync(p, 0o755);
  return pathToFileURL(p).href;
}

function workspace(hooks = ''): { dir: string; root: string } {
  const dir = mkdtempSync(path.join(tmp, 'ws-'));
  const root = path.join(dir, 'srv');
  mkdirSync(path.join(dir, 'app'));
  writeFileSync(path.join(dir, 'app', 'index.html'), 'hi\n');
  const s = f.servers[0];
  writeFileSync(
    path.join(dir, 'deploy.yaml'),
    `project: actiontest\nsource: { dir: app }\n${hooks}\nenvironments:\n  production:\n    hosts: [{ host: 127.0.0.1, port: ${s.port}, user: ${f.user}, path: ${root} }]\n  staging:\n    hosts: [{ host: local, path: ${root}-staging }]\n`,
  );
  return { dir, root };
}

describe('action.yml', () => {
  it('is a composite action with the documented inputs and outputs', () => {
    expect(action.runs.using).toBe('composite');
    for (const i of ['command', 'config', 'environment', 'ssh-key', 'known-hosts']) expect(action.inputs).toHaveProperty(i);
    expect(action.outputs.release.value).toBe('${{ steps.run.outputs.release }}');
    // inputs reach scripts only through env (no ${{ }} expansion inside a script: no injection)
    for (const s of action.runs.steps) expect(s.run).not.toMatch(/\$\{\{/);
  });

  it('installs the single executable, loads the key from the input, trusts known-hosts, deploys over SSH; summary and release output', () => {
    const ws = workspace();
    const r = runAction(
      { command: 'deploy', config: 'deploy.yaml', environment: 'production', 'ssh-key': readFileSync(f.clientKey, 'utf8'), 'known-hosts': f.knownHostsLine(0), 'binary-url': launcher() },
      ws.dir,
    );
    expect(r.failed, r.stdout).toBeUndefined();
    expect(r.outputs.release).toMatch(/^\d{14}$/);
    expect(r.outputs.status).toBe('success');
    expect(existsSync(path.join(ws.root, 'releases', r.outputs.release, 'index.html'))).toBe(true);
    expect(r.summary).toMatch(/### ✅ ee-deploy deploy: actiontest → production — success/);
    expect(r.summary).toMatch(new RegExp(`release \`${r.outputs.release}\``));
    expect(r.summary).toMatch(/\| host \| state \| current \| before \| error \|/);
    expect(r.summary).toMatch(new RegExp(`\\| 127\\.0\\.0\\.1 \\| deployed \\| ${r.outputs.release} \\|`));
    // the key was never written to disk; the agent was stopped by the always() step
    // (ee-deploy's code cache holds ssh2's source, which names key formats: not a key)
    const leaked = spawnSync('grep', ['-rlF', '--exclude-dir=.cache', readFileSync(f.clientKey, 'utf8').split('\n')[1], r.home, path.dirname(r.home), ws.dir], { encoding: 'utf8' }).stdout;
    expect(leaked).toBe('');
    expect(r.agentPid).toMatch(/^\d+$/);
    // gone, or a zombie left for a container's init to reap
    const state = spawnSync('ps', ['-o', 'stat=', '-p', r.agentPid], { encoding: 'utf8' }).stdout.trim();
    expect(state === '' || state.startsWith('Z'), `agent state ${state}`).toBe(true);
  });

  it("without binary-url or version: runs the action's own source (its launcher on PATH as ee-deploy), no registry install", () => {
    // an already built checkout of the action (the step builds one that is not: npm ci + build)
    const src = mkdtempSync(path.join(tmp, 'action-src-'));
    mkdirSync(path.join(src, 'bin'));
    writeFileSync(path.join(src, 'bin', 'ee-deploy.mjs'), readFileSync(path.join(REPO, 'bin', 'ee-deploy.mjs')));
    chmodSync(path.join(src, 'bin', 'ee-deploy.mjs'), 0o755);
    symlinkSync(path.dirname(CLI), path.join(src, 'dist'));
    const ws = workspace();
    const r = runAction({ command: 'deploy', config: 'deploy.yaml', environment: 'staging' }, ws.dir, src);
    expect(r.failed, r.stdout).toBeUndefined();
    expect(r.stdout).not.toMatch(/npm/);
    expect(r.outputs.status).toBe('success');
    expect(existsSync(path.join(`${ws.root}-staging`, 'releases', r.outputs.release, 'index.html'))).toBe(true);
  });

  it('a failure: exit code kept, an ::error:: line, a summary with the error, no release output', () => {
    const ws = workspace('hooks: { before_switch: ["echo boom >&2; exit 7"] }');
    const r = runAction({ command: 'deploy', config: 'deploy.yaml', environment: 'staging', 'binary-url': launcher() }, ws.dir);
    expect(r.failed).toBe(1);
    expect(r.stdout).toMatch(/^::error::.*before_switch/m);
    expect(r.outputs.release).toBeUndefined();
    expect(r.outputs.status).toBe('failed');
    expect(r.summary).toMatch(/### ❌ ee-deploy deploy: actiontest → staging — failed/);
    expect(r.summary).toMatch(/\*\*Error:\*\* .*before_switch/);
  });

  it('a config error is an ::error:: line too (exit 2)', () => {
    const ws = workspace();
    const r = runAction({ command: 'deploy', config: 'missing.yaml', environment: 'staging', 'binary-url': launcher() }, ws.dir);
    expect(r.failed).toBe(2);
    expect(r.stdout).toMatch(/^::error::/m);
    expect(r.summary).toMatch(/❌ ee-deploy/);
  });
});
