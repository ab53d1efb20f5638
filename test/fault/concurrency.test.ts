/**
 * Concurrency: 10 deploys of the same project started at once. Without --lock-wait,
 * exactly one proceeds and the nine others exit 4 naming the holder (performer, machine, pid);
 * with two hosts too (every run meets the others at the first host, so none ends up holding half
 * the fleet). With --lock-wait 2m all ten succeed, one after the other, and nothing deadlocks.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkTree, entries, leftovers, manifest, spawnCli, type Manifest, type Run } from './harness.js';

let dir: string;
let app: Manifest;
const HOSTNAME = os.hostname();

/** `hook`: the before_switch hook, which keeps the lock holder busy */
function project(name: string, roots: string[], hook: string): string {
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    [
      `project: ${name}`,
      'source: { dir: ./app }',
      'keep_releases: 3',
      'hooks:',
      `  before_switch: [${JSON.stringify(hook)}]`,
      'environments:',
      '  production:',
      '    hosts:',
      ...roots.map((r) => `      - { host: local, path: ${JSON.stringify(r)} }`),
      '',
    ].join('\n'),
  );
  return file;
}

const tenAtOnce = (config: string, extra: string[] = [], o: { gate?: string } = {}) => {
  let ended = 0;
  return Promise.all(
    Array.from({ length: 10 }, () =>
      spawnCli(['deploy', '-c', config, ...extra], { cwd: dir, timeoutMs: 150_000 }).then((r) => {
        // nine runs are over (the ones that met the lock): let the lock holder finish
        if (o.gate && ++ended === 9) writeFileSync(o.gate, '');
        return r;
      }),
    ),
  );
};

/**
 * A before_switch hook that holds the lock until `gate` exists (at most 60 s): however slowly
 * ten CLIs start on a loaded machine, the holder is still in its deploy when each of the others
 * asks for the lock. A second run getting through could only start once the first one ended,
 * after the gate's time limit: the test then fails on its two winners, slowly but surely.
 */
const waitFor = (gate: string) => `i=0; while [ ! -e '${gate}' ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done`;

function expectOneWinner(runs: Run[]) {
  const winners = runs.filter((r) => r.code === 0);
  const losers = runs.filter((r) => r.code !== 0);
  expect(winners, runs.map((r) => `${r.code}: ${r.stderr.trim()}`).join('\n')).toHaveLength(1);
  const w = winners[0];
  for (const l of losers) {
    expect(l.code, l.stderr).toBe(4);
    const err = l.stderr.trim().split('\n');
    expect(err).toHaveLength(1);
    // the holder: performer, machine and pid of the run that proceeds
    expect(err[0]).toMatch(new RegExp(`^error: local: deploy lock held by alice@${HOSTNAME.replace(/\./g, '\\.')} \\(pid ${w.pid}, deploy running, \\d+s ago\\); wait for it to finish, or pass --lock-wait 2m$`));
    expect(l.stdout).not.toMatch(/uploading/);
  }
  return w;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ee-conc-'));
  mkdirSync(path.join(dir, 'app'));
  writeFileSync(path.join(dir, 'app', 'index.html'), '<h1>concurrent</h1>\n');
  writeFileSync(path.join(dir, 'app', 'app.js'), 'console.log("hi")\n'.repeat(1000));
  app = await manifest(path.join(dir, 'app'));
});

describe('10 simultaneous deploys of one project', () => {
  it('one host: exactly one proceeds, nine exit 4 naming the holder', async () => {
    const root = path.join(dir, 'one');
    const gate = path.join(dir, 'gate-one');
    const runs = await tenAtOnce(project('conc-one', [root], waitFor(gate)), [], { gate });
    const w = expectOneWinner(runs);
    const t = await checkTree(root, app, { shared: [] });
    expect(t.problems).toEqual([]);
    expect(t.releases).toEqual([w.release]);
    expect(t.current).toBe(w.release);
    expect(leftovers(root)).toEqual([]);
  });

  it('two hosts: exactly one run proceeds on both, nobody holds half the fleet', async () => {
    const roots = [path.join(dir, 'two-a'), path.join(dir, 'two-b')];
    const gate = path.join(dir, 'gate-two');
    const runs = await tenAtOnce(project('conc-two', roots, waitFor(gate)), [], { gate });
    const w = expectOneWinner(runs);
    for (const root of roots) {
      const t = await checkTree(root, app, { shared: [] });
      expect(t.problems).toEqual([]);
      expect(t.current).toBe(w.release);
      expect(leftovers(root), root).toEqual([]);
    }
  });

  it('with --lock-wait 2m all ten succeed in turn (two hosts, no deadlock)', async () => {
    const roots = [path.join(dir, 'wait-a'), path.join(dir, 'wait-b')];
    const runs = await tenAtOnce(project('conc-wait', roots, 'sleep 0.1'), ['--lock-wait', '2m']);
    for (const r of runs) expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const ids = runs.map((r) => r.release);
    expect(new Set(ids).size, `release ids: ${ids.join(' ')}`).toBe(10);
    for (const root of roots) {
      const hist = readFileSync(path.join(root, '.ee-deploy', 'history.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string; status: string });
      expect(hist.map((h) => h.status)).toEqual(Array(10).fill('success'));
      expect(new Set(hist.map((h) => h.id))).toEqual(new Set(ids));
      const t = await checkTree(root, app, { shared: [] });
      expect(t.problems).toEqual([]);
      // the last one to take the lock is live, and keep_releases held
      expect(t.current).toBe(hist[hist.length - 1].id);
      expect(entries(path.join(root, 'releases'))).toHaveLength(3);
      expect(leftovers(root)).toEqual([]);
    }
  });
});
