import { describe, expect, it } from 'vitest';
import { environmentSchema } from '../../src/config/schema.js';
import { batchSize, canaryCheckInterval, chunk, describePlan, planStrategy, splitCanary, type StrategyPlan } from '../../src/deploy/strategy.js';

const hosts = ['a', 'b', 'c', 'd', 'e'];
const groups = (p: StrategyPlan<string>) => p.waves.map((w) => w.hosts);

describe('batchSize', () => {
  it('takes a number as is, capped at the fleet size, at least 1', () => {
    expect(batchSize(2, 5)).toBe(2);
    expect(batchSize(9, 5)).toBe(5);
    expect(batchSize(1, 1)).toBe(1);
  });

  it('rounds percentages up and never gives 0', () => {
    expect(batchSize('25%', 8)).toBe(2);
    expect(batchSize('25%', 5)).toBe(2); // 1.25 -> 2
    expect(batchSize('10%', 3)).toBe(1);
    expect(batchSize('0%', 4)).toBe(1);
    expect(batchSize('100%', 4)).toBe(4);
    expect(batchSize('150%', 4)).toBe(4);
  });

  it('uses the fallback when unset, and 0 for an empty fleet', () => {
    expect(batchSize(undefined, 5)).toBe(1);
    expect(batchSize(undefined, 5, 5)).toBe(5);
    expect(batchSize(3, 0)).toBe(0);
  });

  it('rejects malformed percentages', () => {
    expect(() => batchSize('abc', 3)).toThrow(/invalid batch/);
  });
});

describe('chunk', () => {
  it('splits in order, the last chunk holding the remainder', () => {
    expect(chunk(hosts, 2)).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
    expect(chunk(hosts, 5)).toEqual([hosts]);
    expect(chunk([], 2)).toEqual([]);
  });
});

describe('planStrategy', () => {
  it('parallel: one wave with every host, prepared up front', () => {
    const p = planStrategy(hosts, { strategy: 'parallel', batch: 2, pause: 1000 });
    expect(p.prepare).toBe('upfront');
    expect(groups(p)).toEqual([hosts]);
    expect(p.waves[0]).toMatchObject({ kind: 'all', watchMs: 0, pauseAfterMs: 0 });
  });

  it('rolling: batches of N, prepared per wave, pause between batches but not after the last', () => {
    const p = planStrategy(hosts, { strategy: 'rolling', batch: 2, pause: 3000 });
    expect(p.prepare).toBe('per-wave');
    expect(groups(p)).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
    expect(p.waves.map((w) => w.label)).toEqual(['batch 1/3', 'batch 2/3', 'batch 3/3']);
    expect(p.waves.map((w) => w.pauseAfterMs)).toEqual([3000, 3000, 0]);
  });

  it('rolling: percentage batches, and one host at a time by default', () => {
    expect(groups(planStrategy(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'], { strategy: 'rolling', batch: '25%' }))).toEqual([
      ['a', 'b'],
      ['c', 'd'],
      ['e', 'f'],
      ['g', 'h'],
    ]);
    expect(groups(planStrategy(['a', 'b', 'c'], { strategy: 'rolling' }))).toEqual([['a'], ['b'], ['c']]);
  });

  it('canary: the canary hosts first (watched for wait), then the rest in one wave', () => {
    const p = planStrategy(hosts, { strategy: 'canary', canary: { hosts: 2, wait: 120_000 } });
    expect(p.prepare).toBe('upfront');
    expect(groups(p)).toEqual([['a', 'b'], ['c', 'd', 'e']]);
    expect(p.waves.map((w) => [w.kind, w.label, w.watchMs])).toEqual([
      ['canary', 'canary', 120_000],
      ['rest', 'rest', 0],
    ]);
  });

  it('canary: the rest in batches when batch is set', () => {
    const p = planStrategy(hosts, { strategy: 'canary', canary: { hosts: 1, wait: 0 }, batch: 2, pause: 500 });
    expect(groups(p)).toEqual([['a'], ['b', 'c'], ['d', 'e']]);
    expect(p.waves.map((w) => w.label)).toEqual(['canary', 'rest 1/2', 'rest 2/2']);
    expect(p.waves.map((w) => w.pauseAfterMs)).toEqual([0, 500, 0]);
  });

  it('canary: defaults to one canary host; a fleet no bigger than the canary has no rest', () => {
    expect(groups(planStrategy(hosts, { strategy: 'canary' }))).toEqual([['a'], ['b', 'c', 'd', 'e']]);
    expect(groups(planStrategy(['a', 'b'], { strategy: 'canary', canary: { hosts: 5, wait: 0 } }))).toEqual([['a', 'b']]);
  });

  it('canary: hosts with a canary role/tag are picked first', () => {
    const p = planStrategy(hosts, { strategy: 'canary', canary: { hosts: 1, wait: 0 } }, { preferCanary: (h) => h === 'd' });
    expect(groups(p)).toEqual([['d'], ['a', 'b', 'c', 'e']]);
  });

  it('no hosts, no waves', () => {
    expect(planStrategy([], { strategy: 'rolling', batch: 2 }).waves).toEqual([]);
  });

  it('accepts what the config schema produces', () => {
    const env = environmentSchema.parse({ strategy: 'rolling', batch: '50%', pause: '2s', hosts: [{ host: 'x', path: '/srv' }] });
    const p = planStrategy(['a', 'b', 'c', 'd'], env);
    expect(groups(p)).toEqual([['a', 'b'], ['c', 'd']]);
    expect(p.waves[0].pauseAfterMs).toBe(2000);
    const c = environmentSchema.parse({ strategy: 'canary', canary: { wait: '2m' }, hosts: [{ host: 'x', path: '/srv' }] });
    expect(planStrategy(['a', 'b'], c).waves[0]).toMatchObject({ kind: 'canary', watchMs: 120_000, hosts: ['a'] });
  });
});

describe('splitCanary', () => {
  it('keeps config order within preferred and other hosts', () => {
    expect(splitCanary(hosts, 3, (h) => h === 'e' || h === 'c')).toEqual({ canary: ['c', 'e', 'a'], rest: ['b', 'd'] });
  });
});

describe('canaryCheckInterval', () => {
  it('about ten rounds over the wait, between 1s and 10s apart', () => {
    expect(canaryCheckInterval(0)).toBe(1000);
    expect(canaryCheckInterval(3000)).toBe(1000);
    expect(canaryCheckInterval(30_000)).toBe(3000);
    expect(canaryCheckInterval(120_000)).toBe(10_000);
    expect(canaryCheckInterval(3_600_000)).toBe(10_000);
  });
});

describe('describePlan', () => {
  it('names the waves, the watch and the pause', () => {
    const fmt = (ms: number) => `${ms / 1000}s`;
    expect(describePlan(planStrategy(hosts, { strategy: 'rolling', batch: 2, pause: 5000 }), (h) => h, fmt)).toBe('rolling, 3 batches: a, b | c, d | e (pause 5s)');
    expect(describePlan(planStrategy(hosts, { strategy: 'canary', canary: { hosts: 1, wait: 60_000 } }), (h) => h, fmt)).toBe('canary: canary a | b, c, d, e (watch 60s)');
    expect(describePlan(planStrategy(['a', 'b'], { strategy: 'parallel' }), (h) => h)).toBe('parallel: a, b');
  });
});
