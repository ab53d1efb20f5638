/**
 * Maintenance mode: `<path>/shared/maintenance.json` on every selected host (the web server turns
 * it into a 503 page, see the README). `on` and `off` report each host; a host that could not be
 * changed makes the command fail (exit 1, or 3 when it could not be reached) and is named.
 */
import type { ResolvedConfig, ResolvedHost } from '../config/resolve.js';
import { EeError, ExitCode } from '../errors.js';
import { maintenanceFailure, maintenanceOffScript, maintenanceOnScript, maintenanceStatusScript, parseMaintenance, type MaintenanceDoc } from '../remote/traffic/maintenance.js';
import type { Transport } from '../transport/types.js';
import { onHosts } from '../transport/each-host.js';
import { lastLine } from '../util/text.js';

export type MaintenanceAction = 'on' | 'off' | 'status';

export interface MaintenanceHostResult {
  host: string;
  ok: boolean;
  /** the state after the command (for `off`: false when it succeeded) */
  on?: boolean;
  /** `off`: the document that was removed; `on`/`status`: the document in place */
  doc?: MaintenanceDoc;
  /** `off`: whether the file existed */
  was?: boolean;
  error?: string;
  exitCode?: number;
}

export interface MaintenanceResult {
  ok: boolean;
  action: MaintenanceAction;
  hosts: MaintenanceHostResult[];
}

export interface MaintenanceOptions {
  interactive: boolean;
  user: string;
  message?: string;
  now?: Date;
  /** an interrupt ends the wait for a host's connection (nothing has been written yet) */
  signal?: AbortSignal;
}

export function maintenanceDoc(o: { user: string; message?: string; now?: Date }): MaintenanceDoc {
  return { message: o.message ?? 'Down for maintenance, back soon.', user: o.user, since: (o.now ?? new Date()).toISOString() };
}

/** runs one action on one open transport (the deploy pipeline uses this on its own sessions) */
export async function maintenanceOnHost(t: Transport, root: string, action: MaintenanceAction, doc?: MaintenanceDoc): Promise<MaintenanceHostResult> {
  const c = action === 'on' ? maintenanceOnScript(root, doc!) : action === 'off' ? maintenanceOffScript(root) : maintenanceStatusScript(root);
  const r = await t.exec(c, { readOnly: action === 'status' });
  const st = parseMaintenance(r.stdout);
  if (r.code !== 0 || !st) {
    const why = maintenanceFailure(r.stderr) ?? (lastLine(r.stderr) || `exit ${r.code ?? 'signal'}`);
    throw new EeError(`${t.host}: maintenance ${action} failed: ${why}`, ExitCode.failed, { host: t.host });
  }
  if (action === 'off') return { host: t.host, ok: true, on: false, was: st.on, doc: st.on ? st.doc : undefined };
  return { host: t.host, ok: true, on: st.on, doc: st.on ? st.doc : undefined };
}

export async function setMaintenance(config: ResolvedConfig, hosts: ResolvedHost[], action: MaintenanceAction, o: MaintenanceOptions): Promise<MaintenanceResult> {
  const doc = action === 'on' ? maintenanceDoc(o) : undefined;
  const res = await onHosts(hosts, { interactive: o.interactive, maxParallel: config.env.max_parallel, signal: o.signal }, (t, h) => maintenanceOnHost(t, h.path, action, doc));
  const out = res.map(({ host, value, error }): MaintenanceHostResult => value ?? { host: host.id, ok: false, error: error?.message ?? 'failed', exitCode: error?.exitCode ?? ExitCode.failed });
  return { ok: out.every((h) => h.ok), action, hosts: out };
}
