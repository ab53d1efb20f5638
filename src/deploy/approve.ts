/**
 * `ee-deploy approvals` and `ee-deploy approve <request>`: the pending requests on the hosts, and
 * adding an approval to one on every host. The approver must not be the requester; an expired
 * request cannot be approved (the next deploy asks again).
 */
import type { ResolvedConfig, ResolvedHost } from '../config/resolve.js';
import { EeError, UsageError } from '../errors.js';
import { onHosts } from '../transport/each-host.js';
import { approvalMessage, approveProblem, expired, isRequest, REQUEST_ID, type Approval, type ApprovalRequest } from '../policy/approvals.js';
import { NAMESPACE } from '../audit/chain.js';
import { fingerprint, sshsign, sshverify } from '../audit/sshsig.js';
import { parseApprovals, readApprovalsScript, writeApprovalScript } from '../remote/steps/approvals.js';
import { machineName } from './identity.js';
import { lastLine } from '../util/text.js';

async function readAll(config: ResolvedConfig, hosts: ResolvedHost[], interactive: boolean) {
  const res = await onHosts(hosts, { interactive, maxParallel: config.env.max_parallel }, async (t, h) => {
    const r = await t.exec(readApprovalsScript(h.path), { readOnly: true });
    if (r.code !== 0) throw new EeError(`${h.id}: reading approvals failed: ${lastLine(r.stderr) || `exit ${r.code}`}`, 1, { host: h.id });
    return parseApprovals(r.stdout).filter(isRequest);
  });
  const failed = res.find((x) => x.error);
  if (failed?.error) throw failed.error;
  return res.map((x) => ({ host: x.host, requests: x.value! }));
}

export interface PendingRequest extends ApprovalRequest {
  /** hosts holding it */
  hosts: string[];
  needed: number;
}

/** unexpired requests of this project and environment, newest first (one entry per request) */
export async function listApprovals(config: ResolvedConfig, hosts: ResolvedHost[], o: { interactive: boolean; now?: number }): Promise<PendingRequest[]> {
  const now = o.now ?? Date.now();
  const byId = new Map<string, PendingRequest>();
  for (const { host, requests } of await readAll(config, hosts, o.interactive))
    for (const r of requests) {
      if (r.project !== config.project || r.env !== config.envName || expired(r, now)) continue;
      const seen = byId.get(r.request);
      if (seen) seen.hosts.push(host.id);
      else byId.set(r.request, { ...r, hosts: [host.id], needed: config.policy.approvals ?? 0 });
    }
  return [...byId.values()].sort((a, b) => (a.requested < b.requested ? 1 : -1));
}

export async function approveRequest(config: ResolvedConfig, hosts: ResolvedHost[], request: string, o: { interactive: boolean; user: string; now?: number }): Promise<ApprovalRequest> {
  if (!REQUEST_ID.test(request)) throw new UsageError(`invalid request id "${request.slice(0, 40)}" (12 hex digits, as the refused deploy printed it)`);
  const now = o.now ?? Date.now();
  const all = await readAll(config, hosts, o.interactive);
  const copies = all.map((x) => ({ host: x.host, r: x.requests.find((r) => r.request === request) }));
  const found = copies.find((c) => c.r)?.r;
  if (!found) throw new UsageError(`no approval request ${request} on ${hosts.map((h) => h.id).join(', ')} (see \`ee-deploy approvals\`)`);
  if (found.project !== config.project || found.env !== config.envName) throw new UsageError(`request ${request} is for ${found.project}/${found.env}, not ${config.project}/${config.envName}`);
  const problem = approveProblem(found, o.user, now);
  if (problem) throw new UsageError(problem);
  const approval: Approval = { user: o.user, machine: machineName(), time: new Date(now).toISOString() };
  // every host gets the request with this approval (a host that lacked the request gets it whole),
  // signed like history lines with the key the connection to that host authenticated with
  const res = await onHosts(hosts, { interactive: o.interactive, maxParallel: config.env.max_parallel }, async (t, h) => {
    const base = copies.find((c) => c.host.id === h.id)?.r ?? found;
    if (t.signer && found.requester_key && fingerprint(t.signer.publicKey) === found.requester_key)
      throw new UsageError(`${h.id}: ${found.requester} requested ${request} with the SSH key ${found.requester_key}; an approval signed with the same key does not count (another person, with their own key, must approve)`);
    const mine = t.signer ? { ...approval, sig: await sshsign(approvalMessage(found, approval), NAMESPACE, t.signer) } : approval;
    const updated = { ...base, approvals: [...base.approvals.filter((a) => a.user !== o.user), mine] };
    const r = await t.exec(writeApprovalScript(h.path, request), { stdin: JSON.stringify(updated) + '\n' });
    if (r.code !== 0) throw new EeError(`${h.id}: writing the approval failed: ${lastLine(r.stderr) || `exit ${r.code}`}`, 1, { host: h.id });
  });
  const failed = res.find((x) => x.error);
  if (failed?.error) throw failed.error;
  // what a deploy will count (its own key aside): signed approvals over SSH, names on a local target
  const counts = (a: Approval) => a.user !== o.user && (a.sig ? validSigner(found, a) : found.requester_key === undefined);
  return { ...found, approvals: [...found.approvals.filter(counts), approval] };
}

function validSigner(r: ApprovalRequest, a: Approval): boolean {
  try {
    return fingerprint(sshverify(approvalMessage(r, a), NAMESPACE, a.sig!)) !== r.requester_key;
  } catch {
    return false;
  }
}
