/**
 * Deploy approvals, pure. A deploy that needs approval leaves a request on every host
 * (`.ee-deploy/approvals/<request>.json`); `ee-deploy approve <request>` adds the approver.
 * An approval counts only for the same project, environment and content fingerprint, before the
 * request expires (`approval_ttl` from the request), and only when the approver is not the
 * requester. A refused deploy of the same content reuses the request still pending.
 */
import { randomBytes } from 'node:crypto';

export const REQUEST_ID = /^[0-9a-f]{12}$/;

export interface Approval {
  user: string;
  machine: string;
  time: string;
  /** SSHSIG (namespace ee-deploy) over approvalMessage(), by the key the approver's connection used */
  sig?: string;
}

/** the bytes an approval's signature covers: what was approved, by whom, when */
export function approvalMessage(r: ApprovalRequest, a: Approval): string {
  return JSON.stringify({ approve: r.request, project: r.project, env: r.env, fingerprint: r.fingerprint, user: a.user, time: a.time });
}

export interface ApprovalRequest {
  request: string;
  project: string;
  env: string;
  commit?: string;
  fingerprint: string;
  requester: string;
  /** SHA256 fingerprint of the SSH key the requesting deploy connected with (SSH hosts) */
  requester_key?: string;
  machine: string;
  requested: string;
  expires: string;
  approvals: Approval[];
}

export interface ContentKey {
  project: string;
  env: string;
  fingerprint: string;
}

export function newRequestId(): string {
  return randomBytes(6).toString('hex');
}

export function isRequest(v: unknown): v is ApprovalRequest {
  const r = v as ApprovalRequest;
  return !!r && typeof r === 'object' && typeof r.request === 'string' && REQUEST_ID.test(r.request) && typeof r.project === 'string' && typeof r.env === 'string' && typeof r.fingerprint === 'string' && typeof r.requester === 'string' && typeof r.expires === 'string' && Array.isArray(r.approvals);
}

export function expired(r: ApprovalRequest, now: number): boolean {
  const t = Date.parse(r.expires);
  return !Number.isFinite(t) || t <= now;
}

const matches = (r: ApprovalRequest, k: ContentKey) => r.project === k.project && r.env === k.env && r.fingerprint === k.fingerprint;

/** distinct approvers, other than the requester, on unexpired requests for this content */
export function approversFor(requests: ApprovalRequest[], k: ContentKey, now: number): string[] {
  const who = new Set<string>();
  for (const r of requests) {
    if (!matches(r, k) || expired(r, now)) continue;
    for (const a of r.approvals) if (a.user && a.user !== r.requester) who.add(a.user);
  }
  return [...who].sort();
}

/** the pending request a refused deploy of this content reuses (the newest unexpired one) */
export function reusableRequest(requests: ApprovalRequest[], k: ContentKey, now: number): ApprovalRequest | undefined {
  return requests.filter((r) => matches(r, k) && !expired(r, now)).sort((a, b) => (a.requested < b.requested ? 1 : -1))[0];
}

export function newRequest(k: ContentKey & { commit?: string; requester: string; requesterKey?: string; machine: string }, now: number, ttlMs: number): ApprovalRequest {
  return { request: newRequestId(), project: k.project, env: k.env, commit: k.commit, fingerprint: k.fingerprint, requester: k.requester, ...(k.requesterKey ? { requester_key: k.requesterKey } : {}), machine: k.machine, requested: new Date(now).toISOString(), expires: new Date(now + ttlMs).toISOString(), approvals: [] };
}

/** why `user` may not approve `r` now, or undefined */
export function approveProblem(r: ApprovalRequest, user: string, now: number): string | undefined {
  if (expired(r, now)) return `request ${r.request} expired at ${r.expires}; deploy again to request a new approval`;
  if (r.requester === user) return `${user} requested ${r.request} and cannot approve it (another person must)`;
  if (r.approvals.some((a) => a.user === user)) return `${user} already approved ${r.request}`;
  return undefined;
}
