/**
 * The deploy policy applied to a run, before anything is touched. Two phases: `policyPreflight`
 * before the build (deployers, signed commits, freezes, windows: nothing to build or upload for a
 * refused deploy) and `requireApprovals` once the content is known (an approval binds to the
 * content fingerprint, so it needs the built tree). A refusal is a PolicyError (exit 6).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { ResolvedConfig, ResolvedHost } from '../config/resolve.js';
import { EeError, PolicyError, UsageError } from '../errors.js';
import { onHosts } from '../transport/each-host.js';
import { approvalMessage, approversFor, isRequest, newRequest, reusableRequest, type Approval, type ApprovalRequest } from '../policy/approvals.js';
import { NAMESPACE, parseAllowedSigners, type AllowedSigner } from '../audit/chain.js';
import { fingerprint, sshverify } from '../audit/sshsig.js';
import { allowedSignersFile } from '../audit/verify.js';
import { readFileSync } from 'node:fs';
import { evaluatePolicy, hasRules } from '../policy/evaluate.js';
import { LocalTree } from '../release/local-tree.js';
import { serializeManifest } from '../release/manifest.js';
import type { SourceTree } from '../release/scan.js';
import { parseApprovals, readApprovalsScript, writeApprovalScript } from '../remote/steps/approvals.js';
import type { GitInfo } from './identity.js';
import { machineName } from './identity.js';
import { lastLine } from '../util/text.js';

const run = promisify(execFile);
const DEFAULT_TTL = 24 * 3600_000;

export interface GateOptions {
  config: ResolvedConfig;
  hosts: ResolvedHost[];
  interactive: boolean;
  dryRun?: boolean;
  /** `--override-policy -m REASON` */
  override?: string;
  now?: number;
}

/** `git verify-commit` on the commit being deployed, with the repository's own signer settings */
export async function verifyCommit(dir: string, git: GitInfo): Promise<{ ok: boolean; detail: string }> {
  if (!git.sha) return { ok: false, detail: `${dir} is not in a git work tree: there is no commit to verify` };
  const dirty = await run('git', ['-C', dir, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).then((r) => r.stdout.trim() !== '', () => false);
  if (dirty) return { ok: false, detail: `the work tree of ${dir} has uncommitted changes: what would be deployed is not the signed commit ${git.sha.slice(0, 12)}` };
  try {
    await run('git', ['-C', dir, 'verify-commit', git.sha], { encoding: 'utf8' });
    return { ok: true, detail: `commit ${git.sha.slice(0, 12)} has a good signature` };
  } catch (e) {
    const err = (e as { stderr?: string }).stderr?.trim().split('\n').filter(Boolean).pop();
    return { ok: false, detail: `commit ${git.sha.slice(0, 12)} is not signed by an allowed signer (git verify-commit: ${err ?? 'failed'})` };
  }
}

/** Phase 1. Returns the warnings to record and notify when `--override-policy` passed a rule. */
export async function policyPreflight(o: GateOptions, action: 'deploy' | 'rollback' | 'promote', user: string, git: GitInfo): Promise<string[]> {
  const p = o.config.policy;
  if (!hasRules(p)) return [];
  // a promote switches to the canary's release, whose commit was verified when it was deployed
  const signature = action === 'deploy' && p.require_signed_commits ? await verifyCommit(o.config.sourceDir, git) : { ok: true, detail: 'not a new commit' };
  // approvals are checked in phase 2, once the content is known
  const d = evaluatePolicy(p, { action: action === 'rollback' ? 'rollback' : 'deploy', now: o.now ?? Date.now(), user, override: o.override, signature, approvals: p.approvals ?? 0 });
  if (d.refusal) throw new PolicyError(`${d.refusal.message}${d.refusal.rule === 'windows' || d.refusal.rule === 'freeze' ? ' (or --override-policy -m REASON)' : ''}`, d.refusal.rule, d.refusal.nextAllowed);
  return d.overridden.map((r) => `policy overridden by ${user} (${o.override}): ${r.message}`);
}

function readSigners(file: string): AllowedSigner[] {
  try {
    return parseAllowedSigners(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`cannot read audit.allowed_signers ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/**
 * Whether an approval read from an SSH host counts. A name is only what the approver typed, so
 * the key is what tells people apart: the approval must carry a valid signature, by a key other
 * than the one the requesting deploy and this deploy connected with (one person approving their
 * own request under another name), and, with audit.allowed_signers, by one of those keys.
 */
function signedApproval(r: ApprovalRequest, a: Approval, deployerKey: Buffer, allowed: AllowedSigner[] | undefined): boolean {
  if (!a.sig) return false;
  let k: Buffer;
  try {
    k = sshverify(approvalMessage(r, a), NAMESPACE, a.sig);
  } catch {
    return false;
  }
  if (k.equals(deployerKey) || (r.requester_key !== undefined && fingerprint(k) === r.requester_key)) return false;
  return !allowed || allowed.some((s) => s.key.equals(k) && (!s.namespaces || s.namespaces.includes(NAMESPACE)));
}

/** what an approval binds to: the digest of the release manifest of this tree (content, modes, links) */
export function contentFingerprint(tree: SourceTree): string {
  const local = LocalTree.of(tree);
  local.ensureHashes();
  return serializeManifest(local.manifestEntries()).digest;
}

/** Phase 2: enough valid approvals on every host, or a pending request recorded and exit 6. */
export async function requireApprovals(o: GateOptions, user: string, git: GitInfo, tree: SourceTree): Promise<string[]> {
  const needed = o.config.policy.approvals ?? 0;
  if (needed <= 0) return [];
  const now = o.now ?? Date.now();
  const key = { project: o.config.project, env: o.config.envName, fingerprint: contentFingerprint(tree) };
  const read = await onHosts(o.hosts, { interactive: o.interactive, maxParallel: o.config.env.max_parallel }, async (t, h) => {
    const r = await t.exec(readApprovalsScript(h.path), { readOnly: true });
    if (r.code !== 0) throw new EeError(`${h.id}: reading approvals failed: ${lastLine(r.stderr) || `exit ${r.code}`}`, 1, { host: h.id });
    return { requests: parseApprovals(r.stdout).filter(isRequest), key: t.signer?.publicKey };
  });
  const failed = read.find((x) => x.error);
  if (failed?.error) throw failed.error;
  const allowed = o.config.raw.audit?.allowed_signers ? readSigners(allowedSignersFile(o.config)) : undefined;
  // over SSH only signed approvals count (see signedApproval); a local target has no key: names
  const perHost = read.map(({ value: v }) => {
    const deployerKey = v!.key;
    const counted = deployerKey ? v!.requests.map((r) => ({ ...r, approvals: r.approvals.filter((a) => signedApproval(r, a, deployerKey, allowed)) })) : v!.requests;
    return approversFor(counted, key, now);
  });
  // every host must carry the approvals: one where they are missing does not count
  const approvers = perHost.reduce((a, b) => a.filter((u) => b.includes(u)));
  if (approvers.length >= needed) return approvers;

  const all: ApprovalRequest[] = read.flatMap((x) => x.value!.requests);
  const myKey = read.find((x) => x.value!.key)?.value!.key;
  const req = reusableRequest(all, key, now) ?? newRequest({ ...key, commit: git.sha, requester: user, requesterKey: myKey && fingerprint(myKey), machine: machineName() }, now, o.config.policy.approval_ttl ?? DEFAULT_TTL);
  const have = `${approvers.length} valid approval(s) for this content`;
  if (o.dryRun) throw new PolicyError(`policy approvals: ${needed} needed, ${have} (dry run: no request recorded)`, 'approvals');
  const missing = read.filter((x) => !x.value!.requests.some((r) => r.request === req.request)).map((x) => x.host);
  const wrote = await onHosts(missing, { interactive: o.interactive, maxParallel: o.config.env.max_parallel }, async (t, h) => {
    const r = await t.exec(writeApprovalScript(h.path, req.request), { stdin: JSON.stringify(req) + '\n' });
    if (r.code !== 0) throw new EeError(`${h.id}: recording the approval request failed: ${lastLine(r.stderr) || `exit ${r.code}`}`, 1, { host: h.id });
  });
  const wfail = wrote.find((x) => x.error);
  if (wfail?.error) throw wfail.error;
  throw new PolicyError(`policy approvals: ${needed} needed, ${have} (commit ${(git.sha ?? 'none').slice(0, 12)}, content ${key.fingerprint.slice(0, 12)}); ask another person to run: ee-deploy approve ${req.request}${o.config.envName ? ` -e ${o.config.envName}` : ''} (expires ${req.expires})`, 'approvals', undefined, req.request);
}
