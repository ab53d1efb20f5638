/**
 * `ssh_client: openssh`: connect with the system `ssh` instead of the built-in client, for setups
 * only OpenSSH itself handles (FIDO / PKCS#11 keys, GSSAPI, KnownHostsCommand, Match exec, ...):
 *   1. a generated config (`-F`) that includes the user's ssh config and the system one, with the
 *      built-in client's defaults below them (runtime-dir.ts holds it, private to this process)
 *   2. `ssh -G`: what ssh resolved for the host, for labels and messages
 *   3. the master connection (ControlMaster, ControlPersist off): host key, authentication
 *   4. the key it authenticated with, as the history signer (signer.ts)
 * Failures are the built-in client's one-line ConnectionError / HostKeyError (exit 3).
 */
import { execFile } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ResolvedHost } from '../../config/resolve.js';
import { ConfigError, ConnectionError, EeError } from '../../errors.js';
import { homeDir } from '../ssh/ssh-config.js';
import { isLoopbackAddress } from '../ssh/ssh-transport.js';
import { defaultKeyFiles, DEFAULT_CONNECT_TIMEOUT_S, masterArgs, resolveArgs, SSH_BIN, wrapperConfig } from './args.js';
import { connectFailure, label, parseMasterLog, parseSshG, type OpenSshSettings } from './diagnose.js';
import { Master } from './master.js';
import { acquireRuntimeDir, releaseRuntimeDir, runtimePath } from './runtime-dir.js';
import { signerFor } from './signer.js';
import { OpenSshTransport } from './transport.js';

export interface ConnectOpenSshOptions {
  /** may ssh prompt (passphrase, security key PIN)? only when stdin is a TTY */
  interactive: boolean;
  connectTimeoutMs?: number;
  /** the user's ssh config file when the project names one (default `$HOME/.ssh/config`) */
  userConfigFile?: string;
  maxChannels?: number;
}

function passwdHome(): string {
  try {
    return os.userInfo().homedir;
  } catch {
    return homeDir();
  }
}

function sshG(configFile: string, host: ResolvedHost): Promise<OpenSshSettings> {
  return new Promise((resolve, reject) => {
    execFile(SSH_BIN, resolveArgs(configFile, host), { timeout: 15_000 }, (e, stdout, stderr) => {
      if (!e) return resolve(parseSshG(host.name, String(stdout)));
      const msg = String(stderr).trim().split('\n').filter(Boolean).at(-1) ?? e.message;
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return reject(new ConnectionError(`ssh_client openssh: the \`${SSH_BIN}\` command was not found (install OpenSSH's client)`, { host: host.id }));
      reject(new ConfigError(`ssh config: ${msg.replace(/^ssh: /, '')}`));
    });
  });
}

/** Connect to a host with the system `ssh`; the transport holds its master until `close()`. */
export async function connectOpenSsh(host: ResolvedHost, o: ConnectOpenSshOptions): Promise<OpenSshTransport> {
  if (host.local) throw new ConnectionError(`host ${host.id} is local; it has no SSH connection`, { host: host.id });
  const home = homeDir();
  const runtimeDir = acquireRuntimeDir();
  let master: Master | undefined;
  const configFile = runtimePath('c');
  try {
    // 1. the config ssh reads (only until the master has read it)
    const userConfig = o.userConfigFile ?? path.join(home, '.ssh', 'config');
    writeFileSync(
      configFile,
      wrapperConfig({
        home,
        passwdHome: passwdHome(),
        userConfig,
        userConfigExists: existsSync(userConfig),
        systemConfig: existsSync('/etc/ssh/ssh_config') ? '/etc/ssh/ssh_config' : null,
        defaultKeysPresent: defaultKeyFiles(home).filter((f) => existsSync(f)),
      }),
      { mode: 0o600 },
    );
    // 2 + 3. what ssh resolved (for messages), beside the master connection itself
    const controlPath = runtimePath('m');
    const explicitS = o.connectTimeoutMs !== undefined ? Math.max(1, Math.round(o.connectTimeoutMs / 1000)) : undefined;
    const args = masterArgs({ configFile, controlPath, host, interactive: o.interactive, ...(explicitS !== undefined ? { connectTimeoutS: explicitS } : {}) });
    const t0 = Date.now();
    const launched = Master.launch({ args, interactive: o.interactive, runtimeDir });
    master = launched.master;
    const settings = await sshG(configFile, host);
    const timeoutS = explicitS ?? settings.connectTimeoutS ?? DEFAULT_CONNECT_TIMEOUT_S;
    // ssh's ConnectTimeout covers the TCP connection and the banner; this bounds the rest (a
    // server stuck in authentication), except on a terminal where a prompt may be waiting
    if (!o.interactive) launched.giveUpAfter(timeoutS * 1000 + 1000 - (Date.now() - t0));
    const outcome = await launched.outcome;
    rmSync(configFile, { force: true });
    if (!outcome.ready) {
      if (outcome.timedOut) throw new ConnectionError(`cannot connect to ${label(settings)}: timed out after ${timeoutS}s`, { host: host.id });
      throw connectFailure(settings, outcome.log, home, host.id, timeoutS);
    }
    // 4. the history signer
    const log = parseMasterLog(outcome.log, home);
    const signer = await signerFor({
      accepted: log.accepted,
      agentSocket: settings.identityAgent ?? process.env.SSH_AUTH_SOCK,
      home,
      label: label(settings),
      hostId: host.id,
    });
    return new OpenSshTransport({
      host: host.id,
      label: label(settings),
      controlPath,
      master,
      // through a jump host or a proxy command the bytes cross a network whatever the address
      loopback: !settings.proxyJump && !settings.proxyCommand && isLoopbackAddress(log.address),
      signer,
      ...(o.maxChannels !== undefined ? { maxChannels: o.maxChannels } : {}),
    });
  } catch (e) {
    rmSync(configFile, { force: true });
    await master?.stop();
    releaseRuntimeDir();
    if (e instanceof EeError) throw e;
    throw new ConnectionError(`cannot connect to ${host.id}: ${(e as Error).message}`, { cause: e, host: host.id });
  }
}
