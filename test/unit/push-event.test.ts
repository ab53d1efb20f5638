import { describe, expect, it } from 'vitest';
import { authenticate, deliveryId, detectSource, parseEvent, signGithub } from '../../src/pipelines/push-event.js';
import { Coalescer } from '../../src/pipelines/coalesce.js';

const secret = 'unit-secret-0123456789';
const body = Buffer.from(JSON.stringify({ ref: 'refs/heads/main', after: 'a'.repeat(40) }));

describe('push events', () => {
  it('tells GitHub from GitLab by their headers', () => {
    expect(detectSource({ 'x-github-event': 'push' })).toBe('github');
    expect(detectSource({ 'x-hub-signature-256': 'sha256=00' })).toBe('github');
    expect(detectSource({ 'x-gitlab-event': 'Push Hook' })).toBe('gitlab');
    expect(detectSource({ 'x-gitlab-token': 't' })).toBe('gitlab');
    expect(detectSource({ 'content-type': 'application/json' })).toBeUndefined();
  });

  it('GitHub: HMAC-SHA256 of the raw body; missing, malformed, wrong and tampered are refused', () => {
    const sig = signGithub(secret, body);
    expect(sig).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(authenticate('github', { 'x-hub-signature-256': sig }, body, secret)).toEqual({ ok: true });
    expect(authenticate('github', { 'x-hub-signature-256': sig.toUpperCase().replace('SHA256', 'sha256') }, body, secret)).toEqual({ ok: true });
    expect(authenticate('github', {}, body, secret)).toMatchObject({ ok: false, reason: 'missing X-Hub-Signature-256' });
    expect(authenticate('github', { 'x-hub-signature-256': 'sha1=abc' }, body, secret)).toMatchObject({ ok: false, reason: 'malformed X-Hub-Signature-256' });
    expect(authenticate('github', { 'x-hub-signature-256': signGithub('other-secret-xxxxxxxx', body) }, body, secret)).toMatchObject({ ok: false, reason: 'wrong X-Hub-Signature-256' });
    expect(authenticate('github', { 'x-hub-signature-256': sig }, Buffer.concat([body, Buffer.from(' ')]), secret)).toMatchObject({ ok: false });
  });

  it('GitLab: the token must equal the secret (any length compared safely)', () => {
    expect(authenticate('gitlab', { 'x-gitlab-token': secret }, body, secret)).toEqual({ ok: true });
    expect(authenticate('gitlab', { 'x-gitlab-token': secret.slice(0, -1) }, body, secret)).toMatchObject({ ok: false, reason: 'wrong X-Gitlab-Token' });
    expect(authenticate('gitlab', { 'x-gitlab-token': '' }, body, secret)).toMatchObject({ ok: false });
    expect(authenticate('gitlab', {}, body, secret)).toMatchObject({ ok: false, reason: 'missing X-Gitlab-Token' });
  });

  it('parses pushes (JSON and GitHub form bodies), deletions, tags, pings and other events', () => {
    const sha = 'b'.repeat(40);
    expect(parseEvent('github', { 'x-github-event': 'push' }, Buffer.from(JSON.stringify({ ref: 'refs/heads/main', after: sha })))).toEqual({ kind: 'push', ref: 'refs/heads/main', branch: 'main', sha, deleted: false });
    const form = Buffer.from(`payload=${encodeURIComponent(JSON.stringify({ ref: 'refs/heads/dev', after: sha }))}`);
    expect(parseEvent('github', { 'x-github-event': 'push', 'content-type': 'application/x-www-form-urlencoded' }, form)).toMatchObject({ branch: 'dev', sha });
    expect(parseEvent('github', { 'x-github-event': 'push' }, Buffer.from(JSON.stringify({ ref: 'refs/heads/main', after: '0'.repeat(40), deleted: true })))).toMatchObject({ deleted: true, sha: undefined });
    expect(parseEvent('gitlab', { 'x-gitlab-event': 'Push Hook' }, Buffer.from(JSON.stringify({ ref: 'refs/tags/v1', after: sha })))).toMatchObject({ branch: undefined, ref: 'refs/tags/v1' });
    expect(parseEvent('github', { 'x-github-event': 'ping' }, Buffer.from('{}'))).toEqual({ kind: 'ping' });
    expect(parseEvent('gitlab', { 'x-gitlab-event': 'Merge Request Hook' }, Buffer.from('{}'))).toEqual({ kind: 'other', name: 'Merge Request Hook' });
    expect(() => parseEvent('github', { 'x-github-event': 'push' }, Buffer.from('not json'))).toThrow();
    expect(() => parseEvent('github', { 'x-github-event': 'push' }, Buffer.from('[]'))).toThrow();
    expect(() => parseEvent('github', { 'x-github-event': 'push' }, Buffer.from('{}'))).toThrow(/ref/);
  });

  it('delivery ids: X-GitHub-Delivery, GitLab Idempotency-Key', () => {
    expect(deliveryId('github', { 'x-github-delivery': 'abc' })).toBe('abc');
    expect(deliveryId('gitlab', { 'idempotency-key': 'k1', 'x-gitlab-event-uuid': 'u1' })).toBe('k1');
    expect(deliveryId('gitlab', { 'x-gitlab-event-uuid': 'u1' })).toBe('u1');
    expect(deliveryId('github', {})).toBeUndefined();
  });
});

describe('Coalescer', () => {
  it('runs one job at a time; requests during a run fold into one follow-up with the newest value', async () => {
    const runs: [number, number][] = [];
    let active = 0;
    let maxActive = 0;
    let release!: () => void;
    const c = new Coalescer<number>(async (v, folded) => {
      active++;
      maxActive = Math.max(maxActive, active);
      runs.push([v, folded]);
      if (v === 1) await new Promise<void>((r) => (release = r));
      active--;
    });
    expect(c.request(1)).toBe('started');
    expect(c.request(2)).toBe('queued');
    expect(c.request(3)).toBe('queued');
    expect(c.request(4)).toBe('queued');
    release();
    await c.idle();
    expect(runs).toEqual([[1, 0], [4, 2]]);
    expect(maxActive).toBe(1);
    expect(c.request(5)).toBe('started');
    await c.idle();
    expect(runs.at(-1)).toEqual([5, 0]);
  });

  it('stop(): drops the waiting job, waits for the running one, starts nothing more', async () => {
    const runs: number[] = [];
    let release!: () => void;
    const c = new Coalescer<number>(async (v) => {
      runs.push(v);
      if (v === 1) await new Promise<void>((r) => (release = r));
    });
    c.request(1);
    c.request(2);
    const stopped = c.stop();
    release();
    await stopped;
    expect(runs).toEqual([1]);
  });
});
