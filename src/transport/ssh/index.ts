/** SSH transport: connect like `ssh` does (config, known_hosts, agent/keys, ProxyJump). */
export { connectSsh, type ConnectSshOptions } from './connect.js';
export { SshTransport, DEFAULT_MAX_CHANNELS } from './ssh-transport.js';
export { clearKeyCache, type PassphrasePrompt } from './auth.js';
export { hostLabel, MAX_JUMP_DEPTH, resolveRoute, resolveSshHost, parseJumpSpec, type SshHostSettings, type SshHostOverrides, type SshConfigSource } from './ssh-config.js';
export { checkHostKey, fingerprintSha256, parseKnownHosts, knownHostsName, type KnownHostEntry, type HostKeyStatus } from './known-hosts.js';
