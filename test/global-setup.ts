/**
 * Runs once before the suite. As root, makes sure the login user of the test sshd exists (see
 * TEST_LOGIN in helpers/sshd.ts): uid 0, shell /bin/sh, an empty home of its own.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { TEST_LOGIN } from './helpers/sshd.js';

const HOME = `/var/lib/${TEST_LOGIN}`;

export default function setup(): void {
  if (process.getuid?.() !== 0) return;
  const entry = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${TEST_LOGIN}:`));
  if (!entry) {
    execFileSync('useradd', ['--password', '*', '--non-unique', '--uid', '0', '--gid', '0', '--no-create-home', '--home-dir', HOME, '--shell', '/bin/sh', TEST_LOGIN], { stdio: 'pipe' });
  } else {
    const f = entry.split(':');
    if (f[2] !== '0' || f[6] !== '/bin/sh') throw new Error(`test login ${TEST_LOGIN} exists but is not uid 0 with /bin/sh: ${entry}`);
  }
  // a locked password ("!", useradd's default) makes sshd refuse even key logins; "*" is no password
  const shadow = readFileSync('/etc/shadow', 'utf8').split('\n').find((l) => l.startsWith(`${TEST_LOGIN}:`));
  if (shadow?.split(':')[1]?.startsWith('!')) execFileSync('usermod', ['--password', '*', TEST_LOGIN], { stdio: 'pipe' });
  const home = entry?.split(':')[5] ?? HOME;
  mkdirSync(home, { recursive: true, mode: 0o700 });
  // empty at every start: a previous run's leftovers must not change this one
  if (home === HOME) for (const name of readdirSync(home)) rmSync(path.join(home, name), { recursive: true, force: true });
}
