/** ssh_config evaluation as OpenSSH does it: Host negation, Match criteria, first value wins, refused keywords. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { resolveSshHost } from '../../src/transport/ssh/ssh-config.js';
import { splitArgs, splitLine } from '../../src/transport/ssh/ssh-config-file.js';
import { algorithmChoice, assembleAlgorithms } from '../../src/transport/ssh/algorithms.js';

const home = '/home/alice';
const src = (userConfigText: string) => ({ home, userConfigText, systemConfigFile: null });
const resolve = (name: string, text: string, over = {}) => resolveSshHost(name, over, src(text));
const me = os.userInfo().username;

describe('lines', () => {
  it.each([
    ['Port 22', { keyword: 'Port', raw: '22' }],
    ['  Port=22', { keyword: 'Port', raw: '22' }],
    ['Port = 22 ', { keyword: 'Port', raw: '22' }],
    ['# comment', undefined],
    ['', undefined],
  ])('%j', (line, want) => expect(splitLine(line)).toEqual(want));
  it.each([
    ['a b', ['a', 'b']],
    ['"a b" c', ['a b', 'c']],
    ["'x y'", ['x y']],
    ['a # comment', ['a']],
    ['a\\ b', ['a b']],
  ])('%j', (text, want) => expect(splitArgs(text)).toEqual(want));
});

describe('Host', () => {
  it('a matching negated pattern vetoes the block', () => {
    const text = 'Host *.example.com !bastion.example.com\n  ProxyJump bastion.example.com\n';
    expect(resolve('web.example.com', text).proxyJump).toBe('bastion.example.com');
    expect(resolve('bastion.example.com', text).proxyJump).toBeUndefined();
  });
  it('patterns are case-sensitive (as ssh: `ssh WEB1` skips `Host web?`); the first value wins', () => {
    expect(resolve('web1', 'Host web?\n  User a\nHost *\n  User b\n').user).toBe('a');
    expect(resolve('WEB1', 'Host web?\n  User a\nHost *\n  User b\n').user).toBe('b');
  });
});

describe('Match', () => {
  it('host compares HostName so far (with %h); originalhost the name asked for', () => {
    const text = 'Host short\n  HostName %h.corp.example\nMatch host *.corp.example\n  User corp\nMatch originalhost short\n  Port 2200\n';
    expect(resolve('short', text)).toMatchObject({ hostName: 'short.corp.example', user: 'corp', port: 2200 });
    expect(resolve('other', text)).toMatchObject({ user: me, port: 22 });
  });
  it('user (the ee-deploy.yaml user wins over User), localuser, negation, all', () => {
    const text = `Match user deploy\n  Port 1\nMatch localuser ${me}\n  IdentityFile ~/.ssh/mine\nMatch !user deploy\n  Port 2\nMatch all\n  HostKeyAlias shared\n`;
    expect(resolve('h', text, { user: 'deploy' })).toMatchObject({ port: 1, identityFiles: ['/home/alice/.ssh/mine'], hostKeyAlias: 'shared' });
    expect(resolve('h', text)).toMatchObject({ port: 2 });
    expect(resolve('h', 'Host h\n  User deploy\nMatch user deploy\n  Port 3\n').port).toBe(3);
  });
  it('exec runs through the shell with tokens; exit 0 = match; not run once the line is false', () => {
    const text = 'Match exec "test %h = inside && test %n = inside"\n  Port 10\nMatch host nomatch exec "exit 0"\n  Port 11\nMatch !exec "exit 1"\n  User execuser\n';
    expect(resolve('inside', text)).toMatchObject({ port: 10, user: 'execuser' });
    expect(resolve('outside', text)).toMatchObject({ port: 22 });
  });
  it('final: a second pass where final/canonical match, values of the first pass still win', () => {
    const text = 'Host x\n  HostName real.example\nMatch final host real.example\n  Port 4000\n  User first\nMatch !final\n  User early\n';
    expect(resolve('x', text)).toMatchObject({ port: 4000, user: 'early' });
    expect(resolve('x', 'Match canonical\n  Port 5\n').port).toBe(22);
    // the final pass matches Host lines against the host name found (lower-cased), as ssh -G shows
    expect(resolve('x', 'Host x\n  HostName Real\nMatch final\n  Port 5\nHost real\n  User byhostname\n')).toMatchObject({ user: 'byhostname', port: 5 });
  });
  it('unknown criteria are refused by name', () => {
    expect(() => resolve('x', 'Match localnetwork 10.0.0.0/8\n  Port 5\n')).toThrow(/Match localnetwork is not supported by the built-in SSH client \(use `ssh_client: openssh`\)/);
    expect(() => resolve('x', 'Match all host x\n')).toThrow(ConfigError);
  });
  it('tagged', () => {
    expect(resolve('x', 'Tag prod\nMatch tagged prod\n  Port 7\n').port).toBe(7);
  });
});

describe('ProxyCommand and ProxyJump', () => {
  it('ProxyCommand tokens %h %p %r %n %%', () => {
    const s = resolve('alias', 'Host alias\n  HostName Real.Host\n  Port 2222\n  User bob\n  ProxyCommand relay --to %h:%p --as %r --asked %n 100%%\n');
    expect(s.proxyCommand).toBe('relay --to real.host:2222 --as bob --asked alias 100%');
    expect(s.proxyJump).toBeUndefined();
  });
  it('an unknown token is an error naming ProxyCommand', () => {
    expect(() => resolve('x', 'ProxyCommand nc %h %z\n')).toThrow(/ssh config:1: ProxyCommand: unknown token %z/);
  });
  it('whichever of ProxyCommand and ProxyJump comes first wins; none disables both', () => {
    expect(resolve('x', 'Host x\n  ProxyJump gw\nHost *\n  ProxyCommand nc %h %p\n')).toMatchObject({ proxyJump: 'gw' });
    expect(resolve('x', 'Host x\n  ProxyCommand nc %h %p\nHost *\n  ProxyJump gw\n')).toMatchObject({ proxyCommand: 'nc x 22' });
    const none = resolve('x', 'Host x\n  ProxyCommand none\nHost *\n  ProxyJump gw\n');
    expect(none.proxyJump ?? none.proxyCommand).toBeUndefined();
    // ee-deploy.yaml `jump` is like `ssh -J`: it wins over the config's ProxyCommand
    expect(resolve('x', 'ProxyCommand nc %h %p\n', { jump: 'gw2' })).toMatchObject({ proxyJump: 'gw2' });
  });
});

describe('keywords', () => {
  it.each([
    ['ProxyUseFdpass yes', /ProxyUseFdpass yes is not supported by the built-in SSH client; use `ssh_client: openssh`/],
    ['KnownHostsCommand /bin/kh %H', /KnownHostsCommand is not supported/],
    ['GSSAPIAuthentication yes', /GSSAPIAuthentication yes \(Kerberos\)/],
    ['PKCS11Provider /usr/lib/opensc-pkcs11.so', /PKCS11Provider/],
    ['SecurityKeyProvider /usr/lib/sk.so', /SecurityKeyProvider/],
    ['CanonicalizeHostname yes', /CanonicalizeHostname yes/],
    ['BindInterface eth0', /BindInterface/],
    ['PreferredAuthentications password', /PreferredAuthentications password/],
  ])('%s is refused by name, with file:line', (line, re) => {
    expect(() => resolve('x', `Host x\n  ${line}\n`)).toThrow(re);
    expect(() => resolve('x', `Host x\n  ${line}\n`)).toThrow(/^ssh config:2: /);
  });
  it('a refused value in a block that does not apply is fine', () => {
    expect(resolve('y', 'Host x\n  ProxyUseFdpass yes\n').port).toBe(22);
  });
  it('values that change nothing are fine: no, none, default', () => {
    expect(() => resolve('x', 'ProxyUseFdpass no\nGSSAPIAuthentication no\nPKCS11Provider none\nCanonicalizeHostname no\nConnectionAttempts 1\nControlMaster auto\nForwardX11 yes\nSendEnv LANG\n')).not.toThrow();
  });
  it("the system-wide file's GSSAPIAuthentication yes (Debian's default) is not refused", () => {
    const s = resolveSshHost('x', {}, { home, userConfigText: '', systemConfigFile: '/etc/ssh/ssh_config' });
    expect(s.hostName).toBe('x');
  });
  it('a distribution crypto policy in the system-wide file is applied as far as the built-in client can', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ee-syscfg-'));
    try {
      writeFileSync(path.join(dir, 'policy.config'), 'Ciphers aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes256-ctr\nKexAlgorithms mlkem768x25519-sha256,sntrup761x25519-sha512,curve25519-sha256\nPubkeyAcceptedAlgorithms ecdsa-sha2-nistp256,ssh-ed25519,rsa-sha2-512\nRequiredRSASize 2048\n');
      writeFileSync(path.join(dir, 'ssh_config'), `Include ${dir}/policy.config\nHost *\n  GSSAPIAuthentication yes\n`);
      const s = resolveSshHost('x', {}, { home, userConfigText: '', systemConfigFile: path.join(dir, 'ssh_config') });
      expect(algorithmChoice(s.algorithms)).toEqual({ cipher: ['aes256-gcm@openssh.com', 'chacha20-poly1305@openssh.com', 'aes256-ctr'], kex: ['curve25519-sha256'] });
      // the same lines in the user's own config are refused by name
      expect(() => resolve('x', 'RequiredRSASize 2048\n')).toThrow(/RequiredRSASize/);
      expect(() => algorithmChoice(resolve('x', 'KexAlgorithms mlkem768x25519-sha256,curve25519-sha256\n').algorithms)).toThrow(/does not implement mlkem768x25519-sha256/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an unknown keyword is an error unless IgnoreUnknown names it', () => {
    expect(() => resolve('x', 'Host other\n  Frobnicate yes\n')).toThrow(/ssh config:2: unknown ssh_config keyword Frobnicate/);
    expect(resolve('x', 'IgnoreUnknown UseKeychain,Frob*\nFrobnicate yes\n').port).toBe(22);
  });
  it('honoured extras: AddressFamily, BindAddress, BatchMode, Compression, ForwardAgent, CertificateFile', () => {
    const s = resolve('x', 'AddressFamily inet\nBindAddress 127.0.0.2\nBatchMode yes\nCompression yes\nForwardAgent /tmp/agent.sock\nCertificateFile ~/.ssh/%r-cert.pub\nUser deploy\n');
    expect(s).toMatchObject({ addressFamily: 'inet', bindAddress: '127.0.0.2', batchMode: true, compression: true, forwardAgent: '/tmp/agent.sock', certificateFiles: ['/home/alice/.ssh/deploy-cert.pub'] });
  });
  it('${VAR} in paths; an unset one is an error', () => {
    process.env.EE_TEST_KEYDIR = '/keys';
    expect(resolve('x', 'IdentityFile ${EE_TEST_KEYDIR}/id\n').identityFiles).toEqual(['/keys/id']);
    expect(() => resolve('x', 'IdentityFile ${EE_TEST_UNSET_VAR}/id\n')).toThrow(/EE_TEST_UNSET_VAR is not set/);
  });
});

describe('algorithm lists', () => {
  const d = ['a1', 'b1', 'c1'];
  const sup = ['a1', 'b1', 'c1', 'x-old', 'x-older'];
  it.each([
    ['+x-old', ['a1', 'b1', 'c1', 'x-old']],
    ['+x-*', ['a1', 'b1', 'c1', 'x-old', 'x-older']],
    ['-b*', ['a1', 'c1']],
    ['^x-old,c1', ['x-old', 'c1', 'a1', 'b1']],
    ['c1,a1', ['c1', 'a1']],
  ])('%s', (spec, want) => expect(assembleAlgorithms('Ciphers', spec, d, sup)).toEqual(want));
  it('an algorithm the built-in client lacks is refused by name, never dropped', () => {
    expect(() => algorithmChoice([{ keyword: 'KexAlgorithms', spec: 'sntrup761x25519-sha512@openssh.com,curve25519-sha256', at: 'cfg:3' }])).toThrow(
      'cfg:3: KexAlgorithms: the built-in SSH client does not implement sntrup761x25519-sha512@openssh.com; use `ssh_client: openssh` (the system ssh) for this host',
    );
    expect(() => algorithmChoice([{ keyword: 'Ciphers', spec: '-*' }])).toThrow(/leaves no algorithm/);
  });
  it('ssh2 lists from ssh config; HostKeyAlgorithms +ssh-rsa keeps the defaults plus it', () => {
    const c = algorithmChoice([
      { keyword: 'Ciphers', spec: '+aes256-cbc' },
      { keyword: 'HostKeyAlgorithms', spec: '+ssh-rsa' },
      { keyword: 'KexAlgorithms', spec: 'curve25519-sha256' },
      { keyword: 'MACs', spec: '^hmac-sha2-512' },
    ]);
    expect(c.cipher?.at(-1)).toBe('aes256-cbc');
    expect(c.serverHostKey).toContain('ssh-ed25519');
    expect(c.kex).toEqual(['curve25519-sha256']);
    expect(c.hmac?.[0]).toBe('hmac-sha2-512');
  });
  it('PubkeyAcceptedAlgorithms: + additions are followed (the built-in client accepts them all), others refused', () => {
    expect(algorithmChoice([{ keyword: 'PubkeyAcceptedAlgorithms', spec: '+ssh-rsa' }])).toEqual({});
    expect(() => algorithmChoice([{ keyword: 'PubkeyAcceptedKeyTypes', spec: '-ssh-rsa' }])).toThrow(/PubkeyAcceptedKeyTypes -ssh-rsa: the built-in SSH client offers every key type/);
  });
});
