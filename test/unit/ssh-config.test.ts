import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { expandTilde, parseJumpSpec, resolveSshHost } from '../../src/transport/ssh/ssh-config.js';

const home = '/home/alice';
const src = (userConfigText: string) => ({ home, userConfigText, systemConfigFile: null });

const CONFIG = `
Host web1
  HostName 10.0.0.1
  User deploy
  Port 2222
  IdentityFile ~/.ssh/web_key
  IdentityFile %d/.ssh/second_%r
  ProxyJump bastion
  UserKnownHostsFile ~/.ssh/kh_web "~/.ssh/other kh"
  HostKeyAlias WEB1-Key
  StrictHostKeyChecking accept-new
  ConnectTimeout 7
  IdentitiesOnly yes

Host bastion
  HostName bastion.example.com
  User jump
  ProxyJump none

Host *.internal
  User internal
  ServerAliveInterval 10
  ServerAliveCountMax 2

Host *
  User fallback
  Port 2200
`;

describe('resolveSshHost', () => {
  it('reads every supported option for an alias', () => {
    const s = resolveSshHost('web1', {}, src(CONFIG));
    expect(s).toMatchObject({
      alias: 'web1',
      hostName: '10.0.0.1',
      user: 'deploy',
      port: 2222,
      identityFiles: ['/home/alice/.ssh/web_key', '/home/alice/.ssh/second_deploy'],
      identitiesOnly: true,
      proxyJump: 'bastion',
      userKnownHostsFiles: ['/home/alice/.ssh/kh_web', '/home/alice/.ssh/other kh'],
      hostKeyAlias: 'web1-key',
      strictHostKeyChecking: 'accept-new',
      connectTimeoutMs: 7000,
    });
  });

  it('first value wins; Host * supplies the rest', () => {
    const s = resolveSshHost('db.internal', {}, src(CONFIG));
    expect(s).toMatchObject({ hostName: 'db.internal', user: 'internal', port: 2200, serverAliveIntervalMs: 10_000, serverAliveCountMax: 2 });
    expect(s.identityFiles).toEqual([]);
    expect(s.userKnownHostsFiles).toEqual(['/home/alice/.ssh/known_hosts', '/home/alice/.ssh/known_hosts2']);
    expect(s.strictHostKeyChecking).toBe('yes');
    expect(s.proxyJump).toBeUndefined();
  });

  it('ProxyJump none means no jump', () => {
    expect(resolveSshHost('bastion', {}, src(CONFIG)).proxyJump).toBeUndefined();
  });

  it('explicit values from ee-deploy.yaml win over ssh config', () => {
    const s = resolveSshHost('web1', { user: 'ops', port: 22, identityFile: '~/keys/ops', jump: 'other@gw:2022' }, src(CONFIG));
    expect(s).toMatchObject({ user: 'ops', port: 22, identityFiles: ['/home/alice/keys/ops'], proxyJump: 'other@gw:2022' });
  });

  it('a host not in the config is used as is, with the local user and port 22', () => {
    const s = resolveSshHost('Plain.Example.COM', {}, src(''));
    expect(s.hostName).toBe('plain.example.com');
    expect(s.port).toBe(22);
    expect(s.user).toBe(os.userInfo().username);
  });

  it('~ follows $HOME at call time', () => {
    const saved = process.env.HOME;
    process.env.HOME = '/tmp/elsewhere';
    try {
      const s = resolveSshHost('x', {}, { userConfigText: 'IdentityFile ~/.ssh/k', systemConfigFile: null });
      expect(s.identityFiles).toEqual(['/tmp/elsewhere/.ssh/k']);
      expect(s.userKnownHostsFiles[0]).toBe('/tmp/elsewhere/.ssh/known_hosts');
    } finally {
      process.env.HOME = saved;
    }
  });

  it('rejects nonsense with a ConfigError', () => {
    expect(() => resolveSshHost('x', {}, src('StrictHostKeyChecking maybe'))).toThrow(ConfigError);
    expect(() => resolveSshHost('x', {}, src('Port abc'))).toThrow(/Port "abc"/);
  });

  it('IdentityAgent none / path', () => {
    expect(resolveSshHost('x', {}, src('IdentityAgent none')).identityAgent).toBe('none');
    expect(resolveSshHost('x', {}, src('IdentityAgent ~/agent.sock')).identityAgent).toBe('/home/alice/agent.sock');
    expect(resolveSshHost('x', {}, src('IdentityAgent SSH_AUTH_SOCK')).identityAgent).toBeUndefined();
  });
});

describe('Include', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ee-sshcfg-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, '.ssh', 'config.d'), { recursive: true });
  writeFileSync(path.join(dir, '.ssh', 'config.d', 'a.conf'), 'Host inc-a\n  HostName 10.1.1.1\n');
  writeFileSync(path.join(dir, '.ssh', 'config.d', 'b.conf'), 'Host inc-b\n  Port 2201\n');

  it('inlines relative globs from ~/.ssh and keeps later top-level lines global', () => {
    const text = 'Include config.d/*.conf\nUser everyone\n';
    const s = resolveSshHost('inc-a', {}, { home: dir, userConfigText: text, systemConfigFile: null });
    expect(s.hostName).toBe('10.1.1.1');
    expect(s.user).toBe('everyone');
    expect(resolveSshHost('inc-b', {}, { home: dir, userConfigText: text, systemConfigFile: null }).port).toBe(2201);
  });

  it('an Include inside a Host block applies only to that host; the block goes on after it', () => {
    const text = 'Host x\n  Include config.d/a.conf\n  Port 1\nHost inc-a\n  User other\n';
    // for x: the included `Host inc-a` does not match, and `Port 1` still belongs to `Host x`
    expect(resolveSshHost('x', {}, { home: dir, userConfigText: text, systemConfigFile: null })).toMatchObject({ hostName: 'x', port: 1 });
    // for inc-a: the include is never read (its block is for x), so only the later block applies
    expect(resolveSshHost('inc-a', {}, { home: dir, userConfigText: text, systemConfigFile: null })).toMatchObject({ hostName: 'inc-a', user: 'other', port: 22 });
  });

  it('globs in directory parts and absolute paths, in sorted order', () => {
    mkdirSync(path.join(dir, 'conf', 'p1'), { recursive: true });
    mkdirSync(path.join(dir, 'conf', 'p2'), { recursive: true });
    writeFileSync(path.join(dir, 'conf', 'p1', 'x.conf'), 'Host g\n  Port 1001\n');
    writeFileSync(path.join(dir, 'conf', 'p2', 'x.conf'), 'Host g\n  Port 1002\n  User two\n');
    const text = `Include ${dir}/conf/p*/x.conf\n`;
    expect(resolveSshHost('g', {}, { home: dir, userConfigText: text, systemConfigFile: null })).toMatchObject({ port: 1001, user: 'two' });
  });

  it('reads ~/.ssh/config from $HOME by default', () => {
    writeFileSync(path.join(dir, '.ssh', 'config'), 'Host from-file\n  Port 2345\n');
    expect(resolveSshHost('from-file', {}, { home: dir, systemConfigFile: null }).port).toBe(2345);
  });
});

describe('parseJumpSpec', () => {
  it.each([
    ['bastion', [{ host: 'bastion' }]],
    ['u@bastion:2222', [{ user: 'u', host: 'bastion', port: 2222 }]],
    ['ssh://u@b:22', [{ user: 'u', host: 'b', port: 22 }]],
    ['a,b@c:3', [{ host: 'a' }, { user: 'b', host: 'c', port: 3 }]],
    ['[::1]:2200', [{ host: '::1', port: 2200 }]],
    ['me@[fe80::1]', [{ user: 'me', host: 'fe80::1' }]],
  ])('%s', (spec, want) => expect(parseJumpSpec(spec)).toEqual(want));
  it.each(['', 'a,,b', '@host', 'host:99999', 'host:port'])('rejects %j', (spec) => expect(() => parseJumpSpec(spec)).toThrow(ConfigError));
});

describe('expandTilde', () => {
  it.each([
    ['~', '/h'],
    ['~/x', '/h/x'],
    ['~bob/x', '~bob/x'],
    ['/abs', '/abs'],
  ])('%s', (p, want) => expect(expandTilde(p, '/h')).toBe(want));
});
