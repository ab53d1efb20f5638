import { describe, expect, it } from 'vitest';
import { backoffDelays, resolveCheckSettings } from '../../src/health/index.js';
import { healthDefaultsSchema } from '../../src/config/schema.js';

/** mulberry32: a small seeded PRNG, so jitter tests are reproducible */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('backoffDelays', () => {
  it('gives retries-1 delays growing by the factor', () => {
    expect(backoffDelays(5, { initial: 1000, factor: 2, max: 60_000, jitter: false })).toEqual([1000, 2000, 4000, 8000]);
    expect(backoffDelays(4, { initial: 50, factor: 3, max: 60_000, jitter: false })).toEqual([50, 150, 450]);
  });

  it('uses the documented defaults: 3 attempts -> 1s, 2s', () => {
    const d = healthDefaultsSchema.parse({});
    expect(backoffDelays(d.retries, d.backoff)).toEqual([1000, 2000]);
  });

  it('caps every delay at max', () => {
    expect(backoffDelays(8, { initial: 1000, factor: 2, max: 5000, jitter: false })).toEqual([1000, 2000, 4000, 5000, 5000, 5000, 5000]);
    // initial above max is capped too
    expect(backoffDelays(3, { initial: 9000, factor: 2, max: 5000, jitter: false })).toEqual([5000, 5000]);
    // huge exponents do not overflow into NaN/Infinity
    const long = backoffDelays(100, { initial: 1000, factor: 10, max: 30_000, jitter: false });
    expect(long).toHaveLength(99);
    expect(long.every((x) => Number.isFinite(x) && x <= 30_000)).toBe(true);
    expect(long.at(-1)).toBe(30_000);
  });

  it('factor 1 is a constant delay', () => {
    expect(backoffDelays(4, { initial: 250, factor: 1, max: 30_000, jitter: false })).toEqual([250, 250, 250]);
  });

  it('one attempt means no delay at all', () => {
    expect(backoffDelays(1, { initial: 1000, factor: 2, max: 30_000, jitter: false })).toEqual([]);
  });

  it('full jitter stays within [delay/2, delay] with a seeded random', () => {
    const backoff = { initial: 100, factor: 2, max: 3000, jitter: true };
    const plain = backoffDelays(10, { ...backoff, jitter: false });
    for (const seed of [1, 2, 3, 42, 1234]) {
      const jittered = backoffDelays(10, backoff, seeded(seed));
      expect(jittered).toHaveLength(9);
      jittered.forEach((d, i) => {
        expect(d).toBeGreaterThanOrEqual(plain[i] / 2);
        expect(d).toBeLessThanOrEqual(plain[i]);
      });
    }
    // same seed -> same table; different seed -> (almost surely) different table
    expect(backoffDelays(10, backoff, seeded(7))).toEqual(backoffDelays(10, backoff, seeded(7)));
    expect(backoffDelays(10, backoff, seeded(7))).not.toEqual(backoffDelays(10, backoff, seeded(8)));
  });

  it('jitter bounds are hit exactly at random 0 and random ~1', () => {
    const backoff = { initial: 1000, factor: 2, max: 30_000, jitter: true };
    expect(backoffDelays(4, backoff, () => 0)).toEqual([500, 1000, 2000]);
    expect(backoffDelays(4, backoff, () => 0.999999)).toEqual([1000, 2000, 4000]);
  });
});

describe('resolveCheckSettings', () => {
  const defaults = { timeout: 5000, retries: 3, backoff: { initial: 1000, factor: 2, max: 30_000, jitter: false } };

  it('takes health_defaults when the check sets nothing', () => {
    expect(resolveCheckSettings({}, defaults)).toEqual(defaults);
  });

  it('merges per-check retries/timeout/backoff over health_defaults, key by key', () => {
    expect(resolveCheckSettings({ timeout: 200, retries: 7, backoff: { initial: 50, jitter: true } }, defaults)).toEqual({
      timeout: 200,
      retries: 7,
      backoff: { initial: 50, factor: 2, max: 30_000, jitter: true },
    });
  });
});
