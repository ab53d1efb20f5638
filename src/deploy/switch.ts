/** The switch step of a deploy: `current` -> the new release (+ after_switch hooks) on a wave's hosts. */
import { formatDuration } from '../config/duration.js';
import { redact } from '../config/secrets.js';
import { DeployError, EeError } from '../errors.js';
import { parseSwitch, switchScript } from '../remote/steps/switch.js';
import { failureText, userOutput } from '../remote/protocol.js';
import type { HostSession } from './session.js';
import type { Wave } from './strategy.js';
import { type Run, hookEnv, timeStep } from './run.js';
import { forEachLimited } from '../util/concurrency.js';
import { remoteOutput } from './hook-report.js';

export async function switchAll(run: Run, hosts: HostSession[], wave?: Wave<HostSession>): Promise<void> {
  const { o } = run;
  const step = o.reporter.step(`switching current to ${run.id}${wave && wave.kind !== 'all' ? ` (${wave.label}: ${hosts.map((s) => s.host.id).join(', ')})` : ''}`);
  const errors: EeError[] = [];
  const t0 = Date.now();
  await forEachLimited(hosts, o.config.env.max_parallel, async (s) => {
    try {
      // the switch is the script's first action: it happens as the exec starts
      const at = new Date().toISOString();
      const r = await s.t.exec(
        switchScript({ root: s.host.path, id: run.id, hooks: o.config.raw.hooks.after_switch, hookEnv: hookEnv(run, s), phase: 'after_switch', lockToken: run.sessions.token, hooksTimeoutMs: o.config.raw.hooks_timeout }),
        { onStdout: remoteOutput(o.reporter, s.host.id, o.config.raw.hooks) },
      );
      const answer = parseSwitch(r.stdout, 'after_switch');
      if (answer.switched === run.id) {
        run.switched.push(s);
        run.liveAt.set(s, at);
      }
      if (r.code !== 0) {
        const hook = answer.hookFailed;
        const what = hook ? `after_switch hook #${hook.index + 1} ${hook.timedOut ? `timed out (hooks_timeout ${formatDuration(o.config.raw.hooks_timeout)})` : `failed (exit ${hook.code})`}` : 'switch failed';
        // a hook's last line, or the script's own reason (`failed <why>`) when the switch itself failed
        const detail = hook ? userOutput(r).split('\n').pop() : failureText(r);
        throw new DeployError(redact(`${s.host.id}: ${what}${detail ? `: ${detail}` : ''}`), { host: s.host.id, step: hook ? 'after_switch hook' : 'switch' });
      }
    } catch (e) {
      const err = e instanceof EeError ? e : new DeployError(`${s.host.id}: switch failed: ${(e as Error).message}`, { host: s.host.id, step: 'switch' });
      const out = run.outcomes.get(s.host.id)!;
      out.state = 'failed';
      out.step = err.step ?? 'switch';
      out.error = err.message;
      errors.push(err);
    }
  });
  timeStep(run, 'switch', t0);
  if (errors.length) {
    step.fail('switch failed');
    throw errors[0];
  }
  step.succeed(`current -> ${run.id} on ${hosts.length} host(s)`);
}
