/**
 * `ee-deploy audit verify`: every host's history checked as an audit chain (chain.ts) against the
 * allowed signers, and against what this machine verified before (the user's state dir keeps,
 * per host and path, how many lines were intact and the hash of the last one): a shorter history,
 * or a different line where a verified one was, is reported even when the chain itself is whole.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ResolvedConfig, ResolvedHost } from '../config/resolve.js';
import { UsageError } from '../errors.js';
import { onHosts } from '../transport/each-host.js';
import { parseWholeHistory, readWholeHistoryScript } from '../remote/steps/audit.js';
import { lineHash, parseAllowedSigners, verifyChain, type ChainProblem } from './chain.js';
import { lastLine } from '../util/text.js';

export interface HostAudit {
  host: string;
  state: 'intact' | 'broken' | 'empty' | 'error';
  lines?: number;
  problem?: ChainProblem;
  signers?: string[];
  error?: string;
  exitCode?: number;
}

interface Seen {
  lines: number;
  hash: string;
  time: string;
}

export function stateFile(): string {
  const base = process.env.XDG_STATE_HOME || path.join(process.env.HOME || os.homedir(), '.local', 'state');
  return path.join(base, 'ee-deploy', 'audit.json');
}

function readState(): Record<string, Seen> {
  try {
    return JSON.parse(readFileSync(stateFile(), 'utf8')) as Record<string, Seen>;
  } catch {
    return {};
  }
}

function writeState(all: Record<string, Seen>): void {
  const file = stateFile();
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(all, null, 1) + '\n', { mode: 0o600 });
  renameSync(tmp, file);
}

export function allowedSignersFile(config: ResolvedConfig, given?: string): string {
  const f = given ?? config.raw.audit?.allowed_signers;
  if (!f) throw new UsageError('audit verify needs the allowed signers: audit.allowed_signers in the config, or --allowed-signers FILE (git\'s allowed_signers format)');
  return path.resolve(given ? process.cwd() : config.dir, f.replace(/^~(?=\/|$)/, process.env.HOME ?? '~'));
}

/** the chain problem of one host's history, given what was verified before (pure) */
export function auditText(text: string, allowed: ReturnType<typeof parseAllowedSigners>, seen?: Seen): { lines: number; problem?: ChainProblem; signers: string[]; last?: string } {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (seen && lines.length < seen.lines) {
    // a line missing in the middle is named by the chain; lines cut off the end only by the state
    const r = verifyChain(lines.join('\n'), allowed);
    if (r.problem) return r;
    return { lines: lines.length, signers: [], problem: { line: lines.length + 1, reason: `the history is shorter than the ${seen.lines} lines this machine verified on ${seen.time} (lines were removed)` } };
  }
  let trusted = 0;
  if (seen && seen.lines > 0) {
    if (lineHash(lines[seen.lines - 1]) !== seen.hash) return { lines: lines.length, signers: [], problem: { line: seen.lines, reason: `differs from the line this machine verified there on ${seen.time} (history rewritten)` } };
    trusted = seen.lines;
  }
  const text2 = lines.join('\n');
  let r = verifyChain(text2, allowed, trusted);
  // a broken link inside the already-verified part: check everything to name the first bad line
  if (r.problem && r.problem.line <= trusted) r = verifyChain(text2, allowed);
  return { ...r, last: lines[lines.length - 1] };
}

export async function auditHosts(config: ResolvedConfig, hosts: ResolvedHost[], o: { interactive: boolean; allowedSigners?: string }): Promise<HostAudit[]> {
  const file = allowedSignersFile(config, o.allowedSigners);
  let allowedText: string;
  try {
    allowedText = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read the allowed signers file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const allowed = parseAllowedSigners(allowedText);
  if (!allowed.length) throw new UsageError(`${file}: no signer in it`);
  const res = await onHosts(hosts, { interactive: o.interactive, maxParallel: config.env.max_parallel }, async (t, h) => {
    const r = await t.exec(readWholeHistoryScript(h.path), { readOnly: true, maxStdout: 1024 * 1024 * 1024 });
    if (r.code !== 0) throw new Error(`reading the history failed: ${lastLine(r.stderr) || `exit ${r.code}`}`);
    return parseWholeHistory(r.stdout);
  });
  const state = readState();
  const out: HostAudit[] = [];
  for (const { host, value, error } of res) {
    if (error) {
      out.push({ host: host.id, state: 'error', error: error.message, exitCode: error.exitCode });
      continue;
    }
    const key = `${config.project}|${config.envName}|${host.id}|${host.path}`;
    const a = auditText(value ?? '', allowed, state[key]);
    if (!a.problem && a.lines === 0) out.push({ host: host.id, state: 'empty', lines: 0 });
    else out.push({ host: host.id, state: a.problem ? 'broken' : 'intact', lines: a.lines, problem: a.problem, signers: a.signers });
    if (!a.problem && a.last) state[key] = { lines: a.lines, hash: lineHash(a.last), time: new Date().toISOString() };
  }
  writeState(state);
  return out;
}
