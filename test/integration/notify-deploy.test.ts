/**
 * Notifications from real deploys (`host: local`, the same pipeline without SSH) to local HTTP
 * recorders: one Google Chat thread and one Jira deployment per run, Jira linked to the issue keys
 * of the release's commits, and suppression + escalation decided from the history the deploys
 * wrote on the "server" (a second project directory, as a second machine would, decides alike).
 */
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeProject, runCli } from '../helpers/cli.js';
import { httpRecorder, type HttpRecorder } from '../helpers/http-recorder.js';

let rec: HttpRecorder;
beforeAll(async () => {
  rec = await httpRecorder();
});
afterAll(() => rec.close());

const GIT_ENV = { GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' };
const git = (dir: string, ...a: string[]) => execFileSync('git', a, { cwd: dir, encoding: 'utf8', env: { ...process.env, ...GIT_ENV } }).trim();

function project(target: string) {
  const p = makeProject('project: shop\n');
  const flag = path.join(p.dir, 'fail');
  writeFileSync(
    p.config,
    `project: shop
source: { dir: ./app }
hooks: { before_switch: ["[ ! -e ${flag} ] || exit $(cat ${flag})"] }
notifications:
  timeout: 2s
  suppress: 30m
  escalate: { after: 2, to: [sms] }
  google_chat: { webhook_url: "https://chat.googleapis.com/v1/spaces/S/messages?key=k&token=\${GCHAT_TOKEN}", api_url: "${rec.url}", on: [started, success, failure, rollback] }
  sms: { account_sid: AC1, auth_token: "\${TW_TOKEN}", from: "+15550000001", to: "+15550000002", api_url: "${rec.url}" }
  jira: { site: acme.atlassian.net, client_id: cid, client_secret: "\${JIRA_SECRET}", cloud_id: cloud-1, api_url: "${rec.url}", on: [started, success, failure] }
environments:
  production: { hosts: [{ host: local, path: ${target} }] }
`,
  );
  return { ...p, flag };
}

const env = { GCHAT_TOKEN: 'gchat-token-123456', TW_TOKEN: 'twilio-token-7890', JIRA_SECRET: 'jira-secret-abcdef', GIT_CEILING_DIRECTORIES: '/tmp', ...GIT_ENV };
const paths = () => rec.requests.map((r) => `${r.method} ${r.url.split('?')[0]}`);

describe('notifications from deploys', () => {
  it('one thread / one Jira deployment per run with the commits\' issue keys; suppression and escalation from the server history', async () => {
    rec.routes['/oauth/token'] = { body: { access_token: 'jira-access-token-1', expires_in: 3600 } };
    rec.routes['/jira/'] = { body: { acceptedDeployments: [{}], rejectedDeployments: [] } };
    const target = makeProject('x').dir + '/target';
    const a = project(target);
    git(a.app, 'init', '-q');
    git(a.app, 'add', '.');
    git(a.app, 'commit', '-qm', 'SHOP-1 first page');

    // 1: success
    let r = await runCli(['deploy', '--yes'], { cwd: a.dir, env });
    expect(r.code, r.stderr).toBe(0);
    const chat = rec.requests.filter((x) => x.url.startsWith('/v1/spaces/S/messages'));
    expect(chat.map((x) => x.json.text.split('\n')[0])).toEqual(['*shop production: deploy started*', '*shop production: deployed*']);
    expect(new Set(chat.map((x) => x.json.thread.threadKey)).size).toBe(1);
    const jira = rec.requests.filter((x) => x.url.endsWith('/bulk')).map((x) => x.json.deployments[0]);
    expect(jira.map((d) => d.state)).toEqual(['in_progress', 'successful']);
    expect(jira[0].deploymentSequenceNumber).toBe(jira[1].deploymentSequenceNumber);
    expect(jira[1].associations).toEqual([{ associationType: 'issueIdOrKeys', values: ['SHOP-1'] }]);
    expect(paths().filter((p) => p.includes('/2010-04-01/'))).toEqual([]);

    // 2: a new commit, and the deploy fails: the failure is sent; SMS (escalation after 2) is held
    writeFileSync(path.join(a.app, 'index.html'), 'v2');
    git(a.app, 'commit', '-qam', 'SHOP-2 new header, refs OPS-9');
    writeFileSync(a.flag, '1');
    rec.requests.length = 0;
    r = await runCli(['deploy', '--yes'], { cwd: a.dir, env });
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/notifications held back: sms \(escalation: failure 1 of 2\)/);
    const failed = rec.requests.filter((x) => x.url.endsWith('/bulk')).map((x) => x.json.deployments[0]);
    expect(failed.map((d) => d.state)).toEqual(['in_progress', 'failed']);
    expect(failed[1].associations[0].values).toEqual(['SHOP-2', 'OPS-9']);
    expect(rec.requests.filter((x) => x.url.startsWith('/v1/spaces')).map((x) => x.json.text.split('\n')[0])).toEqual(['*shop production: deploy started*', '*shop production: deploy FAILED*']);
    expect(paths().filter((p) => p.includes('/2010-04-01/'))).toEqual([]);

    // 3: from another checkout (another machine) against the same server: the identical failure is
    // suppressed for every channel; only the `started` messages go out
    const b = project(target);
    rmSync(b.app, { recursive: true, force: true });
    execFileSync('git', ['clone', '-q', a.app, b.app]);
    writeFileSync(b.flag, '1');
    rec.requests.length = 0;
    r = await runCli(['deploy', '--yes'], { cwd: b.dir, env });
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/notifications held back: .*suppressed: identical failure within 30m/);
    expect(rec.requests.filter((x) => x.url.startsWith('/v1/spaces')).map((x) => x.json.text.split('\n')[0])).toEqual(['*shop production: deploy started*']);
    expect(paths().filter((p) => p.includes('/2010-04-01/'))).toEqual([]);

    // 3b: a different failure (another first line) is not suppressed, and it is the 3rd failed
    // deploy in a row: the escalation channel (SMS) gets it now
    writeFileSync(b.flag, '3');
    rec.requests.length = 0;
    r = await runCli(['deploy', '--yes'], { cwd: b.dir, env });
    expect(r.code).toBe(1);
    const sms = rec.requests.filter((x) => x.url.includes('/2010-04-01/'));
    expect(sms).toHaveLength(1);
    expect(sms[0].form?.Body).toMatch(/shop production: deploy FAILED: .*exited 3/);
    // the next message sent carries the count of the one held back
    const next = rec.requests.filter((x) => x.url.startsWith('/v1/spaces')).map((x) => x.json.text);
    expect(next[1]).toMatch(/^\*shop production: deploy FAILED\*\n.*exited 3\n\(1 identical failure notification held back since .*: local: prepare failed: before_switch hook #1 exited 1\)/);

    // 4: it works again; nothing is pending any more
    rmSync(a.flag);
    rec.requests.length = 0;
    r = await runCli(['deploy', '--yes'], { cwd: a.dir, env });
    expect(r.code, r.stderr).toBe(0);
    const ok = rec.requests.filter((x) => x.url.startsWith('/v1/spaces')).map((x) => x.json.text);
    expect(ok[1]).toMatch(/^\*shop production: deployed\*\n/);
    expect(ok[1]).not.toMatch(/held back/);
    // and with it, the streak is over
    expect(rec.requests.filter((x) => x.url.includes('/2010-04-01/'))).toHaveLength(0);
    for (const s of ['gchat-token-123456', 'twilio-token-7890', 'jira-secret-abcdef', 'jira-access-token-1']) expect(r.stdout + r.stderr).not.toContain(s);
  });
});
