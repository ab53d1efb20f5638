import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { errorCommand, inGithubActions, reportToGithub, summaryMarkdown } from '../../src/ci/github.js';
import { clearSecrets, registerSecret } from '../../src/config/secrets.js';

afterEach(() => clearSecrets());

describe('GitHub Actions output', () => {
  it('only under GITHUB_ACTIONS=true', () => {
    expect(inGithubActions({ GITHUB_ACTIONS: 'true' })).toBe(true);
    expect(inGithubActions({ GITHUB_ACTIONS: '1' })).toBe(false);
    expect(inGithubActions({})).toBe(false);
  });

  it('::error:: escapes %, CR and LF and redacts secrets', () => {
    registerSecret('s3cr3t-value');
    expect(errorCommand('50% failed\r\non web1: s3cr3t-value')).toBe('::error::50%25 failed%0D%0Aon web1: ***');
  });

  it('summary: heading, facts, a host table with | escaped, the error', () => {
    const md = summaryMarkdown(
      { action: 'deploy', project: 'shop', env: 'production', release: '20261202180000', status: 'rolled_back', ok: false, commit: 'a'.repeat(40), user: 'alice', durationMs: 12345, hosts: [{ host: 'web1', state: 'rolled_back', current: '20261201000000', from: '20261201000000', error: 'hook | failed' }] },
      'deploy',
      'post checks failed',
    );
    expect(md).toContain('### ❌ ee-deploy deploy: shop → production — rolled_back');
    expect(md).toContain('release `20261202180000` · commit `aaaaaaaaaaaa` · by alice · 12.3s');
    expect(md).toContain('| web1 | rolled_back | 20261201000000 | 20261201000000 | hook \\| failed |');
    expect(md).toContain('**Error:** post checks failed');
  });

  it('writes summary and outputs only under Actions; release only on success', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ee-gh-'));
    const env = { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: path.join(dir, 's.md'), GITHUB_OUTPUT: path.join(dir, 'out') };
    writeFileSync(env.GITHUB_OUTPUT, '');
    const result = { action: 'deploy', release: '20261202180000', status: 'success', ok: true, hosts: [] };
    reportToGithub('deploy', { result, env });
    expect(readFileSync(env.GITHUB_OUTPUT, 'utf8')).toBe('release=20261202180000\nstatus=success\n');
    const errs = new PassThrough();
    let printed = '';
    errs.on('data', (d) => (printed += d));
    reportToGithub('deploy', { result: { ...result, ok: false, status: 'failed' }, error: 'boom', env, errorStream: errs });
    expect(readFileSync(env.GITHUB_OUTPUT, 'utf8')).toBe('release=20261202180000\nstatus=success\nstatus=failed\n');
    expect(printed).toBe('::error::boom\n');
    reportToGithub('deploy', { result, env: { ...env, GITHUB_ACTIONS: undefined, GITHUB_OUTPUT: path.join(dir, 'never') } });
    expect(() => readFileSync(path.join(dir, 'never'))).toThrow();
  });
});
