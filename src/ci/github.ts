/**
 * GitHub Actions integration, active when `GITHUB_ACTIONS=true` (the runner sets it): a job
 * summary table appended to `$GITHUB_STEP_SUMMARY`, `release=<id>` and `status=<status>`
 * appended to `$GITHUB_OUTPUT` (what later steps read as `steps.<id>.outputs.release`), and a
 * failure as an `::error::` workflow command (an annotation on the run). The builders are pure;
 * `reportToGithub` does the appending. Every text is redacted before it is written.
 */
import { appendFileSync } from 'node:fs';
import { redact } from '../config/secrets.js';

export interface RunHost {
  host: string;
  state: string;
  current?: string;
  from?: string;
  previous?: string;
  error?: string;
}

/** The parts of a deploy/rollback result (or of a failed one) the summary shows. */
export interface RunSummary {
  action: string;
  project?: string;
  env?: string;
  release?: string;
  status?: string;
  ok?: boolean;
  commit?: string;
  user?: string;
  durationMs?: number;
  hosts?: RunHost[];
}

export function inGithubActions(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.GITHUB_ACTIONS === 'true';
}

/** `::error::` with the message escaped as the runner expects (%, CR, LF) */
export function errorCommand(message: string): string {
  return `::error::${redact(message).replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A')}`;
}

function cell(s: string | undefined): string {
  return (s ?? '').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function seconds(ms: number | undefined): string {
  return ms === undefined ? '' : `${(ms / 1000).toFixed(1)}s`;
}

/** Markdown for the job summary: a heading, one line of facts, a table of hosts, the error. */
export function summaryMarkdown(r: RunSummary | undefined, command: string | undefined, error?: string): string {
  const ok = error === undefined && (r?.ok ?? true);
  const status = r?.status ?? (ok ? 'success' : 'failed');
  const lines: string[] = [];
  const what = r?.project ? `${r.project}${r.env ? ` → ${r.env}` : ''}` : '';
  lines.push(`### ${ok ? '✅' : '❌'} ee-deploy${r?.action ?? command ? ` ${r?.action ?? command}` : ''}${what ? `: ${what}` : ''} — ${status}`, '');
  const facts = [
    r?.release ? `release \`${r.release}\`` : undefined,
    r?.commit ? `commit \`${r.commit.slice(0, 12)}\`` : undefined,
    r?.user ? `by ${r.user}` : undefined,
    r?.durationMs !== undefined ? seconds(r.durationMs) : undefined,
  ].filter(Boolean);
  if (facts.length) lines.push(facts.join(' · '), '');
  if (r?.hosts?.length) {
    lines.push('| host | state | current | before | error |', '|---|---|---|---|---|');
    for (const h of r.hosts) lines.push(`| ${cell(h.host)} | ${cell(h.state)} | ${cell(h.current)} | ${cell(h.from ?? h.previous)} | ${cell(h.error)} |`);
    lines.push('');
  }
  if (error) lines.push(`**Error:** ${cell(error)}`, '');
  return redact(lines.join('\n')) + '\n';
}

/** Appends the summary and outputs, and prints the `::error::` line; does nothing outside Actions. */
export function reportToGithub(command: string | undefined, o: { result?: unknown; error?: string; errorStream?: NodeJS.WritableStream; env?: NodeJS.ProcessEnv }): void {
  const env = o.env ?? process.env;
  if (!inGithubActions(env)) return;
  const r = isRunSummary(o.result) ? o.result : undefined;
  if (o.error !== undefined) (o.errorStream ?? process.stdout).write(errorCommand(o.error) + '\n');
  try {
    if (env.GITHUB_STEP_SUMMARY) appendFileSync(env.GITHUB_STEP_SUMMARY, summaryMarkdown(r, command, o.error) + '\n');
    if (env.GITHUB_OUTPUT) {
      const out: string[] = [];
      const ok = o.error === undefined && (r?.ok ?? true);
      if (r?.release && ok && !/[\r\n]/.test(r.release)) out.push(`release=${r.release}`);
      const status = r?.status ?? (ok ? 'success' : 'failed');
      if (!/[\r\n]/.test(status)) out.push(`status=${status}`);
      appendFileSync(env.GITHUB_OUTPUT, out.join('\n') + '\n');
    }
  } catch (e) {
    process.stderr.write(`warning: could not write the GitHub Actions summary/outputs: ${(e as Error).message}\n`);
  }
}

function isRunSummary(v: unknown): v is RunSummary {
  return !!v && typeof v === 'object' && typeof (v as { action?: unknown }).action === 'string';
}
