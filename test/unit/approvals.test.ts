/** Approvals, pure: who counts (not the requester, same content, unexpired), which request is reused. */
import { describe, expect, it } from 'vitest';
import { approveProblem, approversFor, newRequest, reusableRequest } from '../../src/policy/approvals.js';

const key = { project: 'shop', env: 'production', fingerprint: 'f'.repeat(32) };
const now = Date.parse('2026-06-01T12:00:00Z');

describe('approvals', () => {
  const req = { ...newRequest({ ...key, requester: 'alice', machine: 'm' }, now - 3600_000, 24 * 3600_000), approvals: [{ user: 'alice', machine: 'm', time: '' }, { user: 'bob', machine: 'm', time: '' }, { user: 'bob', machine: 'x', time: '' }] };

  it('counts distinct approvers other than the requester, for the same content, before expiry', () => {
    expect(approversFor([req], key, now)).toEqual(['bob']);
    expect(approversFor([req], { ...key, fingerprint: 'e'.repeat(32) }, now)).toEqual([]);
    expect(approversFor([req], { ...key, env: 'staging' }, now)).toEqual([]);
    expect(approversFor([req], key, now + 24 * 3600_000)).toEqual([]);
  });

  it('reuses the newest pending request for the same content', () => {
    const older = { ...req, request: 'aaaaaaaaaaaa', requested: new Date(now - 7200_000).toISOString() };
    expect(reusableRequest([older, req], key, now)?.request).toBe(req.request);
    expect(reusableRequest([req], { ...key, fingerprint: 'e'.repeat(32) }, now)).toBeUndefined();
  });

  it('refuses self-approval, repeated and expired approvals', () => {
    expect(approveProblem(req, 'alice', now)).toMatch(/cannot approve/);
    expect(approveProblem(req, 'bob', now)).toMatch(/already approved/);
    expect(approveProblem(req, 'carol', now + 24 * 3600_000)).toMatch(/expired/);
    expect(approveProblem(req, 'carol', now)).toBeUndefined();
    expect(req.request).toMatch(/^[0-9a-f]{12}$/);
  });
});
