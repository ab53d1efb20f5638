import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { wildcardMatch } from '../../src/transport/ssh/ssh-config-file.js';
import {
  checkHostKey,
  entryMatchesName,
  fingerprintSha256,
  formatKnownHostsLine,
  hashKnownHostsName,
  keyTypeOfBlob,
  knownHostsName,
  lookupName,
  parseKnownHosts,
  preferredHostKeyAlgorithms,
} from '../../src/transport/ssh/known-hosts.js';

// real keys; fingerprints and hashed lines below were produced by ssh-keygen -l / ssh-keygen -H
const K1 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMSIgD5AfqUZE/V+i+kEZd+B7TM/FWiv0rtnwF6RDw7Z';
const K1_FP = 'SHA256:7oM37V0+NGJu172FAbQihopmTgPCfCzuHpWkOfpnWt4';
const K2 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHF/ckNKfkEsmCoEV/0bhK4vjY2aebe60T8hUdeQTtCS';
const K2_FP = 'SHA256:WcVG5zmigWwl440+ehxHSJPbs50AKgj/j0dD+GLzZeY';
const EC =
  'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBGm44nmbZz/yr14o0knJHWJFS6wfw6ybMujygZemkVngm5cmHsbHka9t9TBMuBwPCja1477MBGV0AtDVo5bzgYs=';
const EC_FP = 'SHA256:sAiL2IrkaIfgyPZioKgVx7rGv4H+r/OGzvWHyZ5bBTs';
// `example.com` and `[example.com]:2222` with K1, hashed by ssh-keygen -H
const HASHED_22 = `|1|36JWBUv/YrIoD+0DUHtVtcY4D5w=|9/Utvt8dHx2OzbhnW60s0INOHBo= ${K1}`;
const HASHED_2222 = `|1|LvQK1EhxnAGgHIIXiuhHGnqy8yc=|T0ObBa4fls+Ih6CUBXI3Pe1Gbn0= ${K1}`;

const blob = (line: string) => Buffer.from(line.split(' ')[1], 'base64');

describe('fingerprintSha256', () => {
  it.each([
    [K1, K1_FP],
    [K2, K2_FP],
    [EC, EC_FP],
  ])('%# matches ssh-keygen -l', (key, fp) => {
    expect(fingerprintSha256(blob(key))).toBe(fp);
  });
});

describe('keyTypeOfBlob', () => {
  it.each([
    [K1, 'ssh-ed25519'],
    [EC, 'ecdsa-sha2-nistp256'],
  ])('%# reads the type from the blob', (key, type) => expect(keyTypeOfBlob(blob(key))).toBe(type));
  it('garbage is unknown', () => expect(keyTypeOfBlob(Buffer.from([0, 0]))).toBe('unknown'));
});

describe('knownHostsName / lookupName', () => {
  it.each([
    ['web1', 22, 'web1'],
    ['web1', 2222, '[web1]:2222'],
    ['127.0.0.1', 40000, '[127.0.0.1]:40000'],
  ])('%s port %d -> %s', (h, p, want) => expect(knownHostsName(h, p)).toBe(want));
  it('HostKeyAlias replaces host and port', () => expect(lookupName({ host: '10.0.0.1', port: 2200, hostKeyAlias: 'db' })).toBe('db'));
});

describe('wildcardMatch (known_hosts patterns)', () => {
  it.each([
    ['web1.example.com', '*.example.com', true],
    ['example.com', '*.example.com', false],
    ['web1', 'web?', true],
    ['web10', 'web?', false],
    ['[web1]:2222', '[web1]:2222', true],
    ['[web1]:2222', '[web1]:*', true],
    ['a.b', 'a?b', true],
    ['axb', 'a.b', false],
  ])('%s ~ %s = %s', (name, pat, want) => expect(wildcardMatch(name, pat)).toBe(want));
});

describe('entryMatchesName', () => {
  it.each([
    ['web1,web2', 'web2', true],
    ['web1,web2', 'web3', false],
    ['WEB1', 'web1', true],
    ['*.example.com,!bad.example.com', 'bad.example.com', false],
    ['*.example.com,!bad.example.com', 'good.example.com', true],
    ['!bad', 'other', false],
    ['web1', '[web1]:2222', false],
    ['[web1]:2222', 'web1', false],
    [HASHED_22.split(' ')[0], 'example.com', true],
    [HASHED_22.split(' ')[0], 'EXAMPLE.com', true],
    [HASHED_22.split(' ')[0], '[example.com]:2222', false],
    [HASHED_2222.split(' ')[0], '[example.com]:2222', true],
    ['|1|broken', 'example.com', false],
  ])('%s names %s: %s', (hosts, name, want) => expect(entryMatchesName({ hosts }, name)).toBe(want));

  it('hashKnownHostsName round-trips', () => {
    const h = hashKnownHostsName('[db]:2022', randomBytes(20));
    expect(entryMatchesName({ hosts: h }, '[db]:2022')).toBe(true);
    expect(entryMatchesName({ hosts: h }, 'db')).toBe(false);
  });
});

describe('parseKnownHosts', () => {
  it('reads plain, hashed, marked lines; skips comments, blanks and garbage', () => {
    const text = [
      '# comment',
      '',
      `web1,10.0.0.1 ${K1} root@web1`,
      `   [web2]:2222 ${K2}`,
      HASHED_22,
      `@revoked * ${K2}`,
      `@cert-authority *.example.com ${EC}`,
      `@bogus web9 ${K1}`,
      'web3 ssh-ed25519',
      'web4 ssh-ed25519 not*base64',
      `web5 ssh-rsa ${K1.split(' ')[1]}`, // type field disagrees with the blob
      `web6\t${K1}`,
    ].join('\n');
    const entries = parseKnownHosts(text, '/h/.ssh/known_hosts');
    expect(entries.map((e) => [e.hosts, e.keyType, e.marker ?? '', e.line])).toEqual([
      ['web1,10.0.0.1', 'ssh-ed25519', '', 3],
      ['[web2]:2222', 'ssh-ed25519', '', 4],
      [HASHED_22.split(' ')[0], 'ssh-ed25519', '', 5],
      ['*', 'ssh-ed25519', 'revoked', 6],
      ['*.example.com', 'ecdsa-sha2-nistp256', 'cert-authority', 7],
      ['web6', 'ssh-ed25519', '', 12],
    ]);
    expect(entries[0].file).toBe('/h/.ssh/known_hosts');
    expect(entries[0].key.equals(blob(K1))).toBe(true);
  });
  it('handles CRLF', () => {
    expect(parseKnownHosts(`web1 ${K1}\r\nweb2 ${K2}\r\n`)).toHaveLength(2);
  });
});

describe('checkHostKey', () => {
  const kh = parseKnownHosts(
    [
      `web1 ${K1}`,
      `[web1]:2222 ${K2}`,
      HASHED_2222,
      `ecdsaonly ${EC}`,
      `@cert-authority *.ca.example ${K1}`,
      `@revoked revokedhost ${K2}`,
      `revokedhost ${K2}`,
      `multi ${K1}`,
      `multi ${K2}`,
      `db-alias ${K2}`,
    ].join('\n'),
    'kh',
  );
  const q = (host: string, port: number, key: string, hostKeyAlias?: string) =>
    checkHostKey(kh, { host, port, key: blob(key), ...(hostKeyAlias ? { hostKeyAlias } : {}) }).status;

  it.each([
    ['web1', 22, K1, undefined, 'known'],
    ['web1', 22, K2, undefined, 'changed'],
    ['web1', 2222, K2, undefined, 'known'],
    ['web1', 2222, K1, undefined, 'changed'],
    ['web1', 2200, K1, undefined, 'unknown'],
    ['example.com', 2222, K1, undefined, 'known'], // hashed
    ['example.com', 2222, K2, undefined, 'changed'], // hashed, other key
    ['example.com', 22, K1, undefined, 'unknown'],
    ['ecdsaonly', 22, K1, undefined, 'unknown'], // other type known only: unknown, like ssh
    ['x.ca.example', 22, K1, undefined, 'unknown'], // @cert-authority ignored
    ['revokedhost', 22, K2, undefined, 'revoked'],
    ['multi', 22, K2, undefined, 'known'], // any of several lines
    ['10.0.0.5', 2200, K2, 'db-alias', 'known'],
    ['10.0.0.5', 2200, K1, 'db-alias', 'changed'],
    ['web1', 22, K1, 'db-alias', 'changed'], // the alias is looked up, not the host
  ])('%s:%d %#', (host, port, key, alias, want) => expect(q(host, port, key, alias)).toBe(want));

  it('changed lists the expected entries; unknown lists other key types', () => {
    const r = checkHostKey(kh, { host: 'web1', port: 22, key: blob(K2) });
    expect(r.status === 'changed' && r.expected.map((e) => fingerprintSha256(e.key))).toEqual([K1_FP]);
    const u = checkHostKey(kh, { host: 'ecdsaonly', port: 22, key: blob(K1) });
    expect(u.status === 'unknown' && u.otherTypes).toEqual(['ecdsa-sha2-nistp256']);
  });
});

describe('formatKnownHostsLine / preferredHostKeyAlgorithms', () => {
  it('formats like ssh-keyscan', () => expect(formatKnownHostsLine('[h]:2', blob(K1))).toBe(`[h]:2 ${K1}`));
  it.each([
    [['ssh-ed25519'], ['ssh-ed25519']],
    [['ssh-rsa', 'ssh-ed25519'], ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa', 'ssh-ed25519']],
    [[], []],
  ])('%j -> %j', (types, want) => expect(preferredHostKeyAlgorithms(types)).toEqual(want));
});
