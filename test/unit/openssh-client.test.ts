/**
 * `ssh_client: openssh`, the pure parts: the generated ssh config and argv, `ssh -G` parsing,
 * and ssh's `-v` log turned into the built-in client's one-line errors and the login key.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { execArgs, forwardArgs, masterArgs, wrapperConfig } from '../../src/transport/openssh/args.js';
import { connectFailure, parseMasterLog, parseSshG } from '../../src/transport/openssh/diagnose.js';
import { parseConfigText } from '../../src/config/load.js';
import { resolveConfig } from '../../src/config/resolve.js';

/** the config text, resolved for one environment */
const loadConfigText = (text: string) => (env: string) => resolveConfig({ file: '/p/ee-deploy.yaml', dir: '/p', raw: parseConfigText(text, '/p/ee-deploy.yaml', {}) }, env);

const host = { name: 'web1', id: 'web1', local: false, path: 'app', roles: [], tags: [] };

describe('config', () => {
  it('ssh_client per environment, overridden per host; builtin by default', () => {
    const c = loadConfigText(`project: p\nenvironments:\n  prod:\n    ssh_client: openssh\n    hosts:\n      - { host: a, path: /x }\n      - { host: b, path: /x, ssh_client: builtin }\n  stage:\n    hosts: [{ host: c, path: /x }]\n`);
    expect(c('prod').hosts.map((h) => h.sshClient)).toEqual(['openssh', 'builtin']);
    expect(c('stage').hosts.map((h) => h.sshClient)).toEqual(['builtin']);
  });
  it('an unknown client is a config error', () => {
    expect(() => loadConfigText(`project: p\nenvironments:\n  prod:\n    ssh_client: putty\n    hosts: [{ host: a, path: /x }]\n`)('prod')).toThrow(/ssh_client/);
  });
});

describe('argv and generated config', () => {
  it('includes the user config, then the system one, then the built-in defaults; $HOME keys when ssh would look elsewhere', () => {
    const text = wrapperConfig({ home: '/h', passwdHome: '/root', userConfigExists: true, systemConfig: '/etc/ssh/ssh_config', defaultKeysPresent: ['/h/.ssh/id_ed25519'] });
    expect(text.split('\n').slice(1, 5)).toEqual(['Include "/h/.ssh/config"', 'Include "/etc/ssh/ssh_config"', 'Host *', '  UserKnownHostsFile "/h/.ssh/known_hosts" "/h/.ssh/known_hosts2"']);
    expect(text).toContain('  IdentityFile "/h/.ssh/id_ed25519"');
    // below the user's config: its values win; ssh's own defaults would prompt (ask) and negotiate a slower key exchange
    expect(text).toContain('  StrictHostKeyChecking yes\n');
    expect(text).toContain('  KexAlgorithms ^curve25519-sha256\n');
    expect(wrapperConfig({ home: '/root', passwdHome: '/root', userConfigExists: false, systemConfig: null, defaultKeysPresent: ['/root/.ssh/id_ed25519'] })).not.toMatch(/Include|IdentityFile/);
    expect(() => wrapperConfig({ home: '/h"x', passwdHome: '/root', userConfigExists: true, systemConfig: null, defaultKeysPresent: [] })).toThrow(/quote/);
  });

  it('the master refuses to prompt off a TTY and never persists; ee-deploy.yaml values win; the command is one argument', () => {
    const a = masterArgs({ configFile: '/r/c0', controlPath: '/r/m1', host: { ...host, user: 'deploy', port: 2222 }, interactive: false });
    expect(a).toEqual(expect.arrayContaining(['BatchMode=yes', 'ControlMaster=yes', 'ControlPath=/r/m1', 'ControlPersist=no', '-N']));
    expect(a.slice(-5)).toEqual(['-l', 'deploy', '-p', '2222', '--', 'web1'].slice(-5));
    expect(masterArgs({ configFile: 'c', controlPath: 'm', host, interactive: true })).toContain('BatchMode=no');
    const e = execArgs('/r/m1', "cd '/srv/a b' && ls");
    expect(e.slice(-3)).toEqual(['--', 'ee-deploy-master', "cd '/srv/a b' && ls"]);
    expect(e).toEqual(expect.arrayContaining(['-F', 'none', '-S', '/r/m1', 'ProxyCommand=false']));
    expect(forwardArgs('/r/m1', '/r/f2', { path: '/run/haproxy.sock' })).toEqual(expect.arrayContaining(['-O', 'forward', '-L', '/r/f2:/run/haproxy.sock']));
    expect(forwardArgs('/r/m1', '/r/f3', { port: 3001 })).toEqual(expect.arrayContaining(['-L', '/r/f3:127.0.0.1:3001']));
  });
});

const G = ['user ee-test', 'hostname 127.0.0.1', 'port 2222', 'stricthostkeychecking ask', 'userknownhostsfile /h/.ssh/known_hosts /h/.ssh/known_hosts2', 'globalknownhostsfile /etc/ssh/ssh_known_hosts', 'hostkeyalias none', 'connecttimeout 15'].join('\n');

describe('ssh -G and the -v log', () => {
  it('reads the resolved settings', () => {
    expect(parseSshG('web1', G)).toMatchObject({ alias: 'web1', hostName: '127.0.0.1', user: 'ee-test', port: 2222, userKnownHostsFiles: ['/h/.ssh/known_hosts', '/h/.ssh/known_hosts2'], connectTimeoutS: 15, strictHostKeyChecking: 'ask' });
    expect(parseSshG('web1', G).hostKeyAlias).toBeUndefined();
  });

  it('finds the host key, the accepted key (file or agent) and the address', () => {
    const log = parseMasterLog(
      [
        'debug1: Connecting to web1 [127.0.0.1] port 2222.',
        'debug1: Server host key: ssh-ed25519 SHA256:abc+/=',
        'debug1: Offering public key: /h/.ssh/id with space ED25519 SHA256:kkk explicit',
        'debug1: Server accepts key: /h/.ssh/id with space ED25519 SHA256:kkk explicit',
      ].join('\n'),
      '/h',
    );
    expect(log).toMatchObject({ address: '127.0.0.1', hostKey: { type: 'ssh-ed25519', fingerprint: 'SHA256:abc+/=' }, accepted: { name: '/h/.ssh/id with space', type: 'ED25519', agent: false }, tried: ['~/.ssh/id with space'] });
    expect(parseMasterLog('debug1: Server accepts key: me@laptop RSA SHA256:zzz agent', '/h').accepted).toMatchObject({ name: 'me@laptop', type: 'RSA', agent: true });
  });

  it("maps ssh's failures to the built-in client's lines", () => {
    const s = parseSshG('web1', G);
    const fail = (log: string) => connectFailure(s, log, '/h', 'web1', 15);
    expect(fail('ssh: connect to host 127.0.0.1 port 2222: Connection refused').message).toBe('cannot connect to ee-test@127.0.0.1:2222 (web1): connection refused (is sshd running on that port?)');
    expect(fail('ssh: connect to host 127.0.0.1 port 2222: Connection timed out').message).toBe('cannot connect to ee-test@127.0.0.1:2222 (web1): timed out after 15s');
    expect(fail('Connection timed out during banner exchange\nConnection to 127.0.0.1 port 2222 timed out').message).toBe('cannot connect to ee-test@127.0.0.1:2222 (web1): timed out after 15s');
    expect(fail('ssh: Could not resolve hostname Nope.example: Name or service not known').message).toBe('cannot connect to ee-test@127.0.0.1:2222 (web1): host name "nope.example" not found');
    const denied = fail('debug1: Trying private key: /h/.ssh/id_rsa\nLoad key "/h/.ssh/id_rsa": bad permissions\ndebug1: Offering public key: /h/.ssh/k ED25519 SHA256:x explicit\nee-test@127.0.0.1: Permission denied (publickey).');
    expect(denied.message).toBe('cannot log in to ee-test@127.0.0.1:2222 (web1): permission denied; tried ~/.ssh/k; skipped ~/.ssh/id_rsa (bad permissions)');
    expect(denied.exitCode).toBe(3);
  });

  it('a refused host key is unknown, changed or revoked by the same known_hosts files', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ee-oc-'));
    const kh = path.join(dir, 'known_hosts');
    const blob = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), Buffer.from([0, 0, 0, 32]), Buffer.alloc(32, 7)]).toString('base64');
    writeFileSync(kh, `[127.0.0.1]:2222 ssh-ed25519 ${blob}\n`);
    const s = { ...parseSshG('web1', G), userKnownHostsFiles: [kh], globalKnownHostsFiles: [] };
    const changed = connectFailure(s, 'debug1: Server host key: ssh-ed25519 SHA256:other\nHost key verification failed.', dir, 'web1', 15);
    expect(changed.name).toBe('HostKeyError');
    expect(changed.message).toMatch(/^host key of ee-test@127\.0\.0\.1:2222 \(web1\) has CHANGED .* server offers SHA256:other, known_hosts has SHA256:\S+ \(~\/known_hosts:1\)/);
    const unknown = connectFailure({ ...s, port: 2200 }, 'debug1: Server host key: ssh-ed25519 SHA256:new\nHost key verification failed.', dir, 'web1', 15);
    expect(unknown.message).toBe("host key of ee-test@127.0.0.1:2200 (web1) is not known: ED25519 key SHA256:new; if that is the server's key, run `ssh-keyscan -p 2200 -t ed25519 127.0.0.1 >> ~/known_hosts` (or connect once with `ssh -p 2200 ee-test@127.0.0.1`)");
  });
});
