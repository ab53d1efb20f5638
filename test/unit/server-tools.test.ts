/**
 * Every command the remote scripts run is on the list of server tools (src/remote/server-tools.ts),
 * which the README's server requirements and the open step's preflight check are made from. The
 * scripts are rendered by their builders for a config that uses every feature (hooks with a
 * timeout, shared paths, incremental upload, migrations, backups, blue-green, load balancers,
 * maintenance, verify, metrics textfile), then lexed for the first word of each command.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { scriptCommand } from '../../src/health/script.js';
import { readApprovalsScript, writeApprovalScript } from '../../src/remote/steps/approvals.js';
import { readWholeHistoryScript } from '../../src/remote/steps/audit.js';
import { envFileScript } from '../../src/remote/steps/env-file.js';
import { finishScript } from '../../src/remote/steps/finish.js';
import { insightScript, textfileScript } from '../../src/remote/steps/insight.js';
import { inspectScript, readHistoryScript, releaseDetailsScript, writableScript } from '../../src/remote/steps/inspect.js';
import { liveReleaseScript } from '../../src/remote/steps/live-release.js';
import { forceUnlockScript, manualLockScript, unlockScript } from '../../src/remote/steps/lock.js';
import { dbStepScript } from '../../src/remote/steps/migrate.js';
import { openScript } from '../../src/remote/steps/open.js';
import { prepareScript } from '../../src/remote/steps/prepare.js';
import { rollbackScript } from '../../src/remote/steps/rollback.js';
import { switchScript } from '../../src/remote/steps/switch.js';
import { blueGreenAliveScript, blueGreenCancelStopScript, blueGreenScheduleStopScript, blueGreenStartScript, blueGreenStateScript, blueGreenStopNowScript } from '../../src/remote/traffic/blue-green.js';
import { haproxySocketToolScript, nginxWorkersScript, writeUpstreamScript } from '../../src/remote/traffic/lb.js';
import { maintenanceOffScript, maintenanceOnScript, maintenanceStatusScript } from '../../src/remote/traffic/maintenance.js';
import type { Cmd } from '../../src/remote/shell.js';
import { OPTIONAL_TOOLS, REQUIRED_TOOLS, SH_BUILTINS } from '../../src/remote/server-tools.js';
import { shCommands } from '../helpers/sh-commands.js';

const R = '/srv/shop';
const A = '20261120100000';
const B = '20261121100000';
/** user-written shell (hooks, health scripts, start/stop/reload commands): `true`, so only ours is scanned */
const USER = 'true';
const env = { EE_PROJECT: 'shop' };

const scripts: Record<string, Cmd> = {
  open: openScript(R, { lockInfo: '{"token":"t"}', guard: 't', manifests: ['abc'] }),
  openReadOnly: openScript(R, { readOnly: true }),
  prepare: prepareScript({ root: R, id: B, gzip: true, sharedDirs: ['log', 'storage/app'], sharedFiles: ['config/.env'], revision: 'abc', revisionTime: '2026-11-21T10:00:00Z', hooks: [USER], hookEnv: env, reuse: 'copy', lockToken: 't', hooksTimeoutMs: 5000 }),
  prepareHardlink: prepareScript({ root: R, id: B, gzip: false, sharedDirs: [], sharedFiles: [], revision: 'abc', revisionTime: 'x', hooks: [], hookEnv: env, reuse: 'hardlink' }),
  prepareNone: prepareScript({ root: R, id: B, gzip: false, sharedDirs: [], sharedFiles: [], revision: 'abc', revisionTime: 'x', hooks: [], hookEnv: env, reuse: 'none' }),
  prepareFull: prepareScript({ root: R, id: B, gzip: false, sharedDirs: [], sharedFiles: [], revision: 'abc', revisionTime: 'x', hooks: [], hookEnv: env }),
  switch: switchScript({ root: R, id: B, hooks: [USER], hookEnv: env, phase: 'after_switch', clearBad: true, lockToken: 't', hooksTimeoutMs: 5000 }),
  finish: finishScript({ root: R, historyLine: '{}', revisionsLine: 'x', markBad: { id: A, text: 'bad' }, removeRelease: A, keepPrepared: B, prune: [A], pruneBackupsBefore: B, unlockToken: 't' }),
  rollback: rollbackScript({ root: R, token: 't', lockInfo: '{}', hooks: [USER], hookEnv: env, record: { revisionsPrefix: 'alice rolled back to release ' }, hooksTimeoutMs: 5000 }),
  rollbackNamed: rollbackScript({ root: R, token: 't', release: A, clearBad: true, hooks: [], hookEnv: env }),
  unlock: unlockScript(R, 't'),
  forceUnlock: forceUnlockScript(R),
  manualLock: manualLockScript(R, '{}'),
  inspect: inspectScript(R, { historyLimit: 50, checkWritable: true }),
  readHistory: readHistoryScript(R, 10),
  releaseDetails: releaseDetailsScript(R),
  writable: writableScript(R),
  insight: insightScript(R),
  textfile: textfileScript('/var/lib/node_exporter/ee.prom'),
  liveRelease: liveReleaseScript(R, { release: A, hashes: true }),
  liveCurrent: liveReleaseScript(R, { hashes: true }),
  approvals: readApprovalsScript(R),
  approve: writeApprovalScript(R, '0123456789ab'),
  audit: readWholeHistoryScript(R),
  envFile: envFileScript(R, 'config/.env'),
  backup: dbStepScript({ step: 'backup', root: R, release: B, command: USER, env, lockToken: 't' }),
  migrate: dbStepScript({ step: 'migrate', root: R, release: B, command: USER, env, lockToken: 't' }),
  restore: dbStepScript({ step: 'restore', root: R, release: A, backupOf: B, command: USER, env, lockToken: 't' }),
  bgState: blueGreenStateScript(R, '/etc/nginx/ee.conf', [3000, 3001]),
  bgStart: blueGreenStartScript(R, { port: 3001, release: B, start: USER, stop: USER }),
  bgAlive: blueGreenAliveScript(R, 3001),
  bgStop: blueGreenStopNowScript(R, 3000, USER),
  bgScheduleStop: blueGreenScheduleStopScript(R, 3000, USER, 5000),
  bgCancelStop: blueGreenCancelStopScript(R, 3000),
  haproxySocket: haproxySocketToolScript('/run/haproxy.sock', 'show stat'),
  nginxUpstream: writeUpstreamScript('/etc/nginx/ee.conf', 'server 127.0.0.1:3000;\n', USER),
  nginxWorkers: nginxWorkersScript(),
  maintenanceOn: maintenanceOnScript(R, { message: 'm', user: 'u', since: 's' }),
  maintenanceOff: maintenanceOffScript(R),
  maintenanceStatus: maintenanceStatusScript(R),
  healthScript: scriptCommand(`${R}/current`, USER),
};

function used(): { commands: Map<string, string[]>; probed: Set<string> } {
  const commands = new Map<string, string[]>();
  const probed = new Set<string>();
  for (const [name, c] of Object.entries(scripts)) {
    const { commands: cs, functions } = shCommands(c.text);
    for (const w of cs) if (!functions.has(w) && w !== USER) commands.set(w, [...(commands.get(w) ?? []), name]);
    for (const m of c.text.matchAll(/command -v ([A-Za-z0-9_-]+)/g)) probed.add(m[1]);
    // commands run by another command: `find ... -exec X`, and gzip behind `tar -xz`
    for (const m of c.text.matchAll(/-exec ([A-Za-z0-9_-]+)/g)) commands.set(m[1], [...(commands.get(m[1]) ?? []), name]);
    if (/\btar -x[a-y]*z/.test(c.text)) commands.set('gzip', [...(commands.get('gzip') ?? []), name]);
  }
  return { commands, probed };
}

describe('server tools', () => {
  const { commands, probed } = used();
  const listed = new Set([...REQUIRED_TOOLS, ...Object.keys(OPTIONAL_TOOLS), ...SH_BUILTINS]);

  it('every command a remote script runs is listed (required, optional or an sh builtin)', () => {
    const unlisted = [...commands.keys()].filter((c) => !listed.has(c)).map((c) => `${c} (in ${commands.get(c)!.join(', ')})`);
    expect(unlisted).toEqual([]);
  });

  it('the optional tools a script looks for first (command -v) are listed as optional', () => {
    expect([...probed].filter((t) => !(t in OPTIONAL_TOOLS) && !REQUIRED_TOOLS.includes(t))).toEqual([]);
  });

  it('every listed tool is still used (the list does not go stale)', () => {
    const seen = new Set([...commands.keys(), ...probed]);
    expect([...REQUIRED_TOOLS, ...Object.keys(OPTIONAL_TOOLS)].filter((t) => !seen.has(t))).toEqual([]);
  });

  it('the README names every required and optional tool', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('<!-- server-tools -->'), readme.indexOf('<!-- /server-tools -->'));
    expect(section.length).toBeGreaterThan(30);
    for (const t of [...REQUIRED_TOOLS, ...Object.keys(OPTIONAL_TOOLS)]) expect(section, t).toContain(`\`${t}\``);
  });

  it('the lexer finds commands behind quotes, $( ), pipes and case patterns, and skips the rest', () => {
    const r = shCommands(`f() { x=$(readlink "$L" 2>/dev/null || true); }; case $x in a|b) head -n 1 <"$F" ;; *) echo "$(tail -n 1 "$G")" ;; esac
# a comment: rm -rf /
for t in tar gzip; do command -v "$t" >/dev/null && X=1 awk '{print}' | sort; done; [ -n "$x" ] && f`);
    expect([...r.commands].sort()).toEqual(['[', 'awk', 'command', 'echo', 'f', 'head', 'readlink', 'sort', 'tail', 'true'].sort());
    expect([...r.functions]).toEqual(['f']);
  });
});
