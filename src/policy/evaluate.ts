/**
 * Deploy policy as a pure decision: the facts (time, performer, commit signature, approvals
 * found) are gathered elsewhere and passed in; this says whether the action may run and, if
 * not, which rule refuses it. Rules are checked in a fixed order (deployers, signed commits,
 * freeze, windows, approvals) so the message names the most fundamental problem first.
 * `rollback` is never refused by windows or freezes (it is how incidents end);
 * `--override-policy` passes windows and freezes, never deployers, signatures or approvals.
 */
import { freezeRange, inWindow, nextOpening, parseWindow, type DeployWindow, type Freeze } from './window.js';

export interface Policy {
  windows?: string[];
  freeze?: Freeze[];
  approvals?: number;
  /** ms */
  approval_ttl?: number;
  require_signed_commits?: boolean;
  deployers?: string[];
}

export type PolicyRule = 'deployers' | 'signed_commits' | 'freeze' | 'windows' | 'approvals';

export interface PolicyFacts {
  action: 'deploy' | 'rollback';
  now: number;
  user: string;
  /** `--override-policy -m REASON` */
  override?: string;
  /** result of `git verify-commit` on the commit being deployed (when signed commits are required) */
  signature?: { ok: boolean; detail: string; commit?: string };
  /** valid approvals (by someone other than the requester, unexpired, same content) */
  approvals?: number;
}

export interface PolicyRefusal {
  rule: PolicyRule;
  message: string;
  /** ISO: the next time windows and freezes allow a deploy */
  nextAllowed?: string;
}

export interface PolicyDecision {
  allowed: boolean;
  refusal?: PolicyRefusal;
  /** windows/freezes that --override-policy passed (recorded in history, notified as a warning) */
  overridden: PolicyRefusal[];
  /** approvals still needed (0 when none are required or enough were found) */
  approvalsNeeded: number;
}

/** a policy with the environment's keys replacing the top-level ones */
export function mergePolicy(top: Policy | undefined, env: Policy | undefined): Policy {
  return { ...(top ?? {}), ...Object.fromEntries(Object.entries(env ?? {}).filter(([, v]) => v !== undefined)) };
}

export function hasRules(p: Policy): boolean {
  return !!(p.windows?.length || p.freeze?.length || p.approvals || p.require_signed_commits || p.deployers?.length);
}

export function defaultZone(p: Policy): string {
  return p.windows?.length ? parseWindow(p.windows[0]).zone : 'UTC';
}

function iso(t: number): string {
  return new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** "2026-03-30 09:00 Europe/Berlin (2026-03-30T07:00:00Z)" */
export function describeInstant(t: number, zone: string): string {
  const f = new Intl.DateTimeFormat('sv-SE', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  return zone === 'UTC' ? iso(t) : `${f.format(new Date(t))} ${zone} (${iso(t)})`;
}

function activeFreeze(p: Policy, t: number): { f: Freeze; end: number } | undefined {
  const zone = defaultZone(p);
  for (const f of p.freeze ?? []) {
    const [a, b] = freezeRange(f, zone);
    if (t >= a && t < b) return { f, end: b };
  }
  return undefined;
}

/** the first instant >= t that is inside a window (if any are set) and outside every freeze */
export function nextAllowed(p: Policy, t: number): number | undefined {
  const windows: DeployWindow[] = (p.windows ?? []).map(parseWindow);
  let at = t;
  for (let i = 0; i < 400; i++) {
    const fr = activeFreeze(p, at);
    if (fr) {
      at = fr.end;
      continue;
    }
    if (windows.length === 0 || windows.some((w) => inWindow(w, at))) return at;
    const opens = windows.map((w) => nextOpening(w, at)).filter((x): x is number => x !== undefined);
    if (opens.length === 0) return undefined;
    at = Math.min(...opens);
  }
  return undefined;
}

export function evaluatePolicy(p: Policy, facts: PolicyFacts): PolicyDecision {
  const overridden: PolicyRefusal[] = [];
  const needed = Math.max(0, (p.approvals ?? 0) - (facts.approvals ?? 0));
  const refuse = (r: PolicyRefusal): PolicyDecision => ({ allowed: false, refusal: r, overridden, approvalsNeeded: needed });

  if (p.deployers?.length && !p.deployers.includes(facts.user)) {
    return refuse({ rule: 'deployers', message: `policy deployers: ${facts.user} may not ${facts.action} here (allowed: ${p.deployers.join(', ')})` });
  }
  if (facts.action === 'rollback') return { allowed: true, overridden, approvalsNeeded: 0 };
  if (p.require_signed_commits && !facts.signature?.ok) {
    return refuse({ rule: 'signed_commits', message: `policy require_signed_commits: ${facts.signature?.detail ?? 'the commit could not be verified'}` });
  }
  const zone = defaultZone(p);
  const fr = activeFreeze(p, facts.now);
  if (fr) {
    const next = nextAllowed(p, facts.now);
    const r: PolicyRefusal = {
      rule: 'freeze',
      message: `policy freeze: deploys are frozen from ${fr.f.from} to ${fr.f.to}${fr.f.reason ? ` (${fr.f.reason})` : ''}; next allowed ${next === undefined ? 'never (no window opens)' : describeInstant(next, zone)}`,
      nextAllowed: next === undefined ? undefined : iso(next),
    };
    if (!facts.override) return refuse(r);
    overridden.push(r);
  }
  if (p.windows?.length) {
    const windows = p.windows.map(parseWindow);
    if (!windows.some((w) => inWindow(w, facts.now))) {
      const next = nextAllowed(p, facts.now);
      const r: PolicyRefusal = {
        rule: 'windows',
        message: `policy windows: outside every deploy window (${p.windows.join('; ')}); next allowed ${next === undefined ? 'never' : describeInstant(next, windows[0].zone)}`,
        nextAllowed: next === undefined ? undefined : iso(next),
      };
      if (!facts.override) return refuse(r);
      overridden.push(r);
    }
  }
  if (needed > 0) {
    return refuse({ rule: 'approvals', message: `policy approvals: ${p.approvals} approval(s) needed, ${facts.approvals ?? 0} valid for this content` });
  }
  return { allowed: true, overridden, approvalsNeeded: 0 };
}
