import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ssh2 from 'ssh2';
import type { AnyAuthMethod, ParsedKey } from 'ssh2';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AuthPlan, clearKeyCache } from '../../src/transport/ssh/auth.js';
import type { SshHostSettings } from '../../src/transport/ssh/ssh-config.js';

const home = mkdtempSync(path.join(os.tmpdir(), 'ee-auth-'));
const ssh = path.join(home, '.ssh');
mkdirSync(ssh);
/**
 * ssh2's generateKeyPairSync('ed25519') strips leading zero bytes off the public key, so about one
 * key in 256 comes out malformed: unreadable by ssh2 and OpenSSH alike (mscdex/ssh2#1513). Such a
 * key made this file fail now and then; draw again until both halves parse.
 */
function generate(passphrase?: string): { private: string; public: string } {
  for (let i = 0; ; i++) {
    const k = ssh2.utils.generateKeyPairSync('ed25519', passphrase ? { passphrase, cipher: 'aes256-ctr', rounds: 2 } : {});
    const priv = ssh2.utils.parseKey(k.private, passphrase);
    const pub = ssh2.utils.parseKey(k.public);
    if (!(priv instanceof Error) && !(pub instanceof Error)) return k;
    if (i === 20) throw new Error(`ssh2 made 20 unreadable keys in a row: ${(priv instanceof Error ? priv : (pub as Error)).message}`);
  }
}
const key = (file: string, passphrase?: string) => {
  const k = generate(passphrase);
  writeFileSync(path.join(ssh, file), k.private, { mode: 0o600 });
  writeFileSync(path.join(ssh, `${file}.pub`), k.public);
  return path.join(ssh, file);
};
const idEd = key('id_ed25519');
const idRsa = key('id_rsa'); // any key type will do for the order
const work = key('work');
const locked = key('locked', 'open sesame');
// an encrypted key in OpenSSH's format without a .pub beside it: its public half is in the file
const lockedNoPub = key('locked-nopub');
const agentSock = path.join(home, 'agent.sock');
const names = [idEd, idRsa, work, locked, lockedNoPub];
const blobs = names.map((f) => (ssh2.utils.parseKey(readFileSync(`${f}.pub`)) as ParsedKey).getPublicSSH());
const nameOf = (blob: Buffer) => path.basename(names[blobs.findIndex((b) => b.equals(blob))] ?? '?');
let agent: ReturnType<typeof spawn> | undefined;

beforeAll(async () => {
  // a real ssh-agent holding id_rsa, then work, then locked-nopub (added before it was encrypted)
  agent = spawn('ssh-agent', ['-D', '-a', agentSock], { stdio: 'ignore' });
  for (let i = 0; i < 200 && !existsSync(agentSock); i++) await new Promise((r) => setTimeout(r, 10));
  execFileSync('ssh-add', ['-q', idRsa, work, lockedNoPub], { env: { ...process.env, SSH_AUTH_SOCK: agentSock }, stdio: 'ignore' });
  execFileSync('ssh-keygen', ['-q', '-p', '-P', '', '-N', 'secret', '-f', lockedNoPub], { stdio: 'ignore' });
  unlinkSync(`${lockedNoPub}.pub`);
});

afterAll(() => {
  agent?.kill();
  rmSync(home, { recursive: true, force: true });
});
afterEach(() => clearKeyCache());

function settings(over: Partial<SshHostSettings> = {}): SshHostSettings {
  return {
    alias: 'h',
    hostName: 'h',
    user: 'deploy',
    port: 22,
    identityFiles: [],
    identitiesOnly: false,
    certificateFiles: [],
    algorithms: [],
    batchMode: false,
    compression: false,
    userKnownHostsFiles: [],
    globalKnownHostsFiles: [],
    strictHostKeyChecking: 'yes',
    hashKnownHosts: false,
    ...over,
  };
}

/** Drive the handler the way ssh2 does until it gives up; return what it offered. */
async function offers(plan: AuthPlan): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < 20; i++) {
    const m = await new Promise<AnyAuthMethod | false>((resolve) => {
      plan.handler(i === 0 ? (null as never) : ['publickey'], false, (x) => resolve(x as AnyAuthMethod | false));
    });
    if (m === false) return out;
    // the agent method offers the agent's keys in the order the plan chose
    if (m.type === 'agent') {
      const keys = await new Promise<ParsedKey[]>((resolve) => (m.agent as ssh2.BaseAgent).getIdentities((_e, k) => resolve((k ?? []) as ParsedKey[])));
      out.push(`agent:${keys.map((k) => nameOf(k.getPublicSSH())).join(',')}`);
    } else if (m.type === 'publickey') out.push(nameOf((m.key as ParsedKey).getPublicSSH()));
    else out.push(m.type);
  }
  throw new Error('handler never gave up');
}

describe('AuthPlan order', () => {
  const saved = process.env.SSH_AUTH_SOCK;
  afterEach(() => {
    if (saved === undefined) delete process.env.SSH_AUTH_SOCK;
    else process.env.SSH_AUTH_SOCK = saved;
  });

  it('agent keys matching IdentityFile first, then the other agent keys, then files the agent lacks; no default keys', async () => {
    process.env.SSH_AUTH_SOCK = agentSock;
    const plan = new AuthPlan({ settings: settings({ identityFiles: [work, idEd] }), interactive: false, home });
    expect(await offers(plan)).toEqual(['agent:work,id_rsa,locked-nopub', 'id_ed25519']);
    expect(plan.summary()).toBe('tried ssh-agent (3 keys), ~/.ssh/id_ed25519');
  });

  it('IdentitiesOnly: only the configured keys, a key the agent holds is not offered twice', async () => {
    process.env.SSH_AUTH_SOCK = agentSock;
    const plan = new AuthPlan({ settings: settings({ identityFiles: [work], identitiesOnly: true }), interactive: false, home });
    expect(await offers(plan)).toEqual(['agent:work']);
  });

  it('an encrypted key without .pub: its public half comes from the key file, so the agent copy is used', async () => {
    process.env.SSH_AUTH_SOCK = agentSock;
    const plan = new AuthPlan({ settings: settings({ identityFiles: [lockedNoPub], identitiesOnly: true }), interactive: false, home });
    expect(await offers(plan)).toEqual(['agent:locked-nopub']);
    expect(plan.summary()).not.toMatch(/load it into ssh-agent/);
  });

  it('no IdentityFile: the default keys; IdentityAgent none or a missing socket: keys only', async () => {
    process.env.SSH_AUTH_SOCK = agentSock;
    expect(await offers(new AuthPlan({ settings: settings({ identityAgent: 'none' }), interactive: false, home }))).toEqual(['id_ed25519', 'id_rsa']);
    process.env.SSH_AUTH_SOCK = path.join(home, 'gone.sock');
    const plan = new AuthPlan({ settings: settings(), interactive: false, home });
    expect(await offers(plan)).toEqual(['id_ed25519', 'id_rsa']);
    expect(plan.summary()).toMatch(/skipped ssh-agent \(socket .*gone\.sock does not exist\)/);
  });

  it('an encrypted key is skipped off a TTY, with the reason', async () => {
    delete process.env.SSH_AUTH_SOCK;
    const plan = new AuthPlan({ settings: settings({ identityFiles: [locked], identitiesOnly: true }), interactive: false, home });
    expect(await offers(plan)).toEqual([]);
    expect(plan.summary()).toBe('no key could be offered; skipped ~/.ssh/locked (encrypted, and there is no terminal to ask for its passphrase; load it into ssh-agent)');
  });

  it('an encrypted key on a TTY: asks, retries a wrong passphrase, caches the key', async () => {
    delete process.env.SSH_AUTH_SOCK;
    const asked: number[] = [];
    const prompt = async (_f: string, attempt: number) => {
      asked.push(attempt);
      return attempt < 2 ? 'nope' : 'open sesame';
    };
    const s = settings({ identityFiles: [locked], identitiesOnly: true });
    expect(await offers(new AuthPlan({ settings: s, interactive: true, onPassphrasePrompt: prompt, home }))).toEqual(['locked']);
    expect(asked).toEqual([1, 2]);
    // a second connection (another host of the fleet) does not ask again
    expect(await offers(new AuthPlan({ settings: s, interactive: false, home }))).toEqual(['locked']);
    expect(asked).toEqual([1, 2]);
  });

  it('gives up after three wrong passphrases, or when the prompt is cancelled', async () => {
    delete process.env.SSH_AUTH_SOCK;
    const s = settings({ identityFiles: [locked], identitiesOnly: true });
    const wrong = new AuthPlan({ settings: s, interactive: true, onPassphrasePrompt: async () => 'bad', home });
    expect(await offers(wrong)).toEqual([]);
    expect(wrong.summary()).toMatch(/wrong passphrase 3 times/);
    const cancelled = new AuthPlan({ settings: s, interactive: true, onPassphrasePrompt: async () => undefined, home });
    expect(await offers(cancelled)).toEqual([]);
    expect(cancelled.summary()).toMatch(/no passphrase given/);
  });

  it('stops when the server does not accept public keys', async () => {
    delete process.env.SSH_AUTH_SOCK;
    const plan = new AuthPlan({ settings: settings(), interactive: false, home });
    const m = await new Promise((resolve) => plan.handler(['password'], false, resolve));
    expect(m).toBe(false);
    expect(plan.summary()).toMatch(/server only allows password/);
  });

  it('an explicit identity file that does not exist is named', async () => {
    delete process.env.SSH_AUTH_SOCK;
    const plan = new AuthPlan({ settings: settings({ identityFiles: [path.join(ssh, 'missing')] }), interactive: false, home });
    expect(await offers(plan)).toEqual([]);
    expect(plan.summary()).toMatch(/skipped ~\/\.ssh\/missing \(not found\)/);
  });
});
