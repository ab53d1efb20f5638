/**
 * What the built-in SSH client does with each ssh_config(5) keyword. Every keyword OpenSSH knows
 * is listed: `honoured` ones are applied (ssh-config.ts), `none` ones do not change where or how
 * the connection is made (they are about interactive sessions, forwardings, logging...), and
 * `refuse` says when a value is one the built-in client cannot follow: then connecting stops with
 * an error naming the keyword rather than doing something else than `ssh` would. A keyword missing
 * here is an error too (as in ssh), unless `IgnoreUnknown` names it.
 * The README's "OpenSSH config" table is checked against this list by a unit test.
 */
import type { Obtained } from './ssh-config-file.js';

export type KeywordEffect = 'honoured' | 'none' | 'deprecated';

export interface KeywordInfo {
  /** as the man page spells it */
  name: string;
  effect: KeywordEffect;
  /** collects every value instead of keeping the first */
  list?: boolean;
  /** when the (first) value cannot be followed: the reason; undefined = fine */
  refuse?: (args: string[], o: Obtained) => string | undefined;
  /** suggest `ssh_client: openssh` when refused (false when ssh could not do it either) */
  openssh?: boolean;
}

const yes = (args: string[]) => /^(yes|true|always)$/i.test(args[0] ?? '');
const notNone = (args: string[]) => !!args[0] && !/^none$/i.test(args[0]);
const whenYes = (what: string) => (args: string[]) => (yes(args) ? `${what} is not supported by the built-in SSH client` : undefined);
const whenSet = (what: string) => (args: string[]) => (notNone(args) ? `${what} is not supported by the built-in SSH client` : undefined);

function k(name: string, effect: KeywordEffect, extra: Partial<KeywordInfo> = {}): KeywordInfo {
  return { name, effect, openssh: true, ...extra };
}

export const KEYWORDS: KeywordInfo[] = [
  k('Host', 'honoured'),
  k('Match', 'honoured'),
  k('Include', 'honoured'),
  k('HostName', 'honoured'),
  k('User', 'honoured'),
  k('Port', 'honoured'),
  k('IdentityFile', 'honoured', { list: true }),
  k('IdentitiesOnly', 'honoured'),
  k('IdentityAgent', 'honoured'),
  k('CertificateFile', 'honoured', { list: true }),
  k('ProxyCommand', 'honoured'),
  k('ProxyJump', 'honoured'),
  k('ProxyUseFdpass', 'none', { refuse: whenYes('ProxyUseFdpass yes') }),
  k('HostKeyAlias', 'honoured'),
  k('UserKnownHostsFile', 'honoured'),
  k('GlobalKnownHostsFile', 'honoured'),
  k('StrictHostKeyChecking', 'honoured'),
  k('HashKnownHosts', 'honoured'),
  k('ConnectTimeout', 'honoured'),
  k('ServerAliveInterval', 'honoured'),
  k('ServerAliveCountMax', 'honoured'),
  k('AddressFamily', 'honoured'),
  k('BindAddress', 'honoured'),
  k('BindInterface', 'none', { refuse: whenSet('BindInterface') }),
  k('BatchMode', 'honoured'),
  k('Compression', 'honoured'),
  k('ForwardAgent', 'honoured'),
  k('PreferredAuthentications', 'honoured', {
    refuse: (a) => (a[0] && !a[0].split(',').includes('publickey') ? `PreferredAuthentications ${a[0]}: the built-in SSH client logs in with keys (publickey) only` : undefined),
  }),
  k('PubkeyAuthentication', 'honoured', { refuse: (a) => (/^no$/i.test(a[0] ?? '') ? 'PubkeyAuthentication no: the built-in SSH client logs in with keys only' : undefined) }),
  k('Tag', 'honoured'),
  k('IgnoreUnknown', 'honoured'),
  k('RefuseConnection', 'honoured', { refuse: (a) => (yes(a) ? 'RefuseConnection yes: this host is configured to refuse connections' : undefined), openssh: false }),
  k('KnownHostsCommand', 'none', { refuse: whenSet('KnownHostsCommand') }),
  k('RevokedHostKeys', 'none', { refuse: whenSet('RevokedHostKeys') }),
  k('VerifyHostKeyDNS', 'none', { refuse: whenYes('VerifyHostKeyDNS yes') }),
  k('NoHostAuthenticationForLocalhost', 'none', { refuse: whenYes('NoHostAuthenticationForLocalhost yes') }),
  // the system-wide file of Debian and others turns GSSAPI on for every host, without Kerberos
  // being set up: only the user's own config asking for it is refused
  k('GSSAPIAuthentication', 'none', { refuse: (a, o) => (yes(a) && !o.system ? 'GSSAPIAuthentication yes (Kerberos) is not supported by the built-in SSH client' : undefined) }),
  k('GSSAPIKeyExchange', 'none', { refuse: (a, o) => (yes(a) && !o.system ? 'GSSAPIKeyExchange yes (Kerberos) is not supported by the built-in SSH client' : undefined) }),
  k('GSSAPIDelegateCredentials', 'none'),
  k('GSSAPIClientIdentity', 'none'),
  k('GSSAPIServerIdentity', 'none'),
  k('GSSAPIRenewalForcesRekey', 'none'),
  k('GSSAPITrustDns', 'none'),
  k('GSSAPIKexAlgorithms', 'none'),
  k('HostbasedAuthentication', 'none', { refuse: whenYes('HostbasedAuthentication yes') }),
  k('PKCS11Provider', 'none', { refuse: whenSet('PKCS11Provider (smart cards)') }),
  k('SecurityKeyProvider', 'none', { refuse: (a) => (a[0] && !/^internal$/i.test(a[0]) ? 'SecurityKeyProvider (FIDO middleware) is not supported by the built-in SSH client' : undefined) }),
  k('CanonicalizeHostname', 'none', { refuse: (a) => (/^(yes|always)$/i.test(a[0] ?? '') ? `CanonicalizeHostname ${a[0]} is not supported by the built-in SSH client` : undefined) }),
  k('CanonicalDomains', 'none'),
  k('CanonicalizeFallbackLocal', 'none'),
  k('CanonicalizeMaxDots', 'none'),
  k('CanonicalizePermittedCNAMEs', 'none'),
  k('ConnectionAttempts', 'honoured'),
  // algorithm lists: checked and applied by algorithms.ts
  k('Ciphers', 'honoured'),
  k('MACs', 'honoured'),
  k('KexAlgorithms', 'honoured'),
  k('HostKeyAlgorithms', 'honoured'),
  k('PubkeyAcceptedAlgorithms', 'honoured'),
  k('PubkeyAcceptedKeyTypes', 'honoured'),
  k('HostbasedAcceptedAlgorithms', 'none'),
  k('HostbasedKeyTypes', 'none'),
  // only for host certificates, which the built-in client does not accept (@cert-authority lines)
  k('CASignatureAlgorithms', 'none'),
  // a distribution's crypto policy in the system-wide file sets it for every host: refused only from the user's config
  k('RequiredRSASize', 'none', { refuse: (_a, o) => (o.system ? undefined : 'RequiredRSASize is not supported by the built-in SSH client') }),
  k('RekeyLimit', 'none', { refuse: () => 'RekeyLimit is not supported by the built-in SSH client' }),
  // no effect on where or how the connection is made
  k('AddKeysToAgent', 'none'),
  k('UseKeychain', 'none'),
  k('CheckHostIP', 'none'),
  k('UpdateHostKeys', 'none'),
  k('ControlMaster', 'none'),
  k('ControlPath', 'none'),
  k('ControlPersist', 'none'),
  k('LocalForward', 'none', { list: true }),
  k('RemoteForward', 'none', { list: true }),
  k('DynamicForward', 'none', { list: true }),
  k('ExitOnForwardFailure', 'none'),
  k('ClearAllForwardings', 'none'),
  k('GatewayPorts', 'none'),
  k('PermitRemoteOpen', 'none'),
  k('StreamLocalBindMask', 'none'),
  k('StreamLocalBindUnlink', 'none'),
  k('Tunnel', 'none'),
  k('TunnelDevice', 'none'),
  k('ForwardX11', 'none'),
  k('ForwardX11Timeout', 'none'),
  k('ForwardX11Trusted', 'none'),
  k('XAuthLocation', 'none'),
  k('RemoteCommand', 'none'),
  k('RequestTTY', 'none'),
  k('SessionType', 'none'),
  k('StdinNull', 'none'),
  k('ForkAfterAuthentication', 'none'),
  k('LocalCommand', 'none'),
  k('PermitLocalCommand', 'none'),
  k('EscapeChar', 'none'),
  k('EnableEscapeCommandline', 'none'),
  k('SendEnv', 'none', { list: true }),
  k('SetEnv', 'none', { list: true }),
  k('LogLevel', 'none'),
  k('LogVerbose', 'none'),
  k('SyslogFacility', 'none'),
  k('VisualHostKey', 'none'),
  k('FingerprintHash', 'none'),
  k('IPQoS', 'none'),
  k('TCPKeepAlive', 'none'),
  k('ObscureKeystrokeTiming', 'none'),
  k('ChannelTimeout', 'none'),
  k('NumberOfPasswordPrompts', 'none'),
  k('PasswordAuthentication', 'none'),
  k('KbdInteractiveAuthentication', 'none'),
  k('KbdInteractiveDevices', 'none'),
  k('ChallengeResponseAuthentication', 'none'),
  k('EnableSSHKeysign', 'none'),
  k('WarnWeakCrypto', 'none'),
  // deprecated or removed: ssh ignores them too
  ...['Cipher', 'Protocol', 'UseRoaming', 'RSAAuthentication', 'RhostsRSAAuthentication', 'CompressionLevel', 'UsePrivilegedPort', 'FallBackToRsh', 'UseRsh', 'UseBlacklistedKeys', 'KeepAlive', 'GlobalKnownHostsFile2', 'UserKnownHostsFile2', 'DSAAuthentication', 'SmartcardDevice'].map((n) =>
    k(n, 'deprecated'),
  ),
];

const BY_KEY = new Map(KEYWORDS.map((i) => [i.name.toLowerCase(), i]));

export function keywordInfo(keyword: string): KeywordInfo | undefined {
  return BY_KEY.get(keyword.toLowerCase());
}

export function isListKeyword(keyword: string): boolean {
  return BY_KEY.get(keyword)?.list === true;
}

/** Why the built-in client cannot follow this value, with the hint to use `ssh_client: openssh`; undefined when it can. */
export function refusal(keyword: string, o: Obtained): string | undefined {
  const info = BY_KEY.get(keyword);
  const why = info?.refuse?.(o.args, o);
  if (!why) return undefined;
  return info!.openssh ? `${why}; use \`ssh_client: openssh\` (the system ssh) for this host` : why;
}
