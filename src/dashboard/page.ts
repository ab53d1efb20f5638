/**
 * The dashboard's one page: HTML, CSS and script inline (no CDN, works offline), allowed by a
 * per-response CSP nonce. The script builds the DOM with textContent only (server data never
 * becomes markup), uses real <button>s and <dialog>s (keyboard: Tab, Enter, Escape), and follows
 * run logs with EventSource.
 */
const CSS = `
:root { color-scheme: light dark; --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --muted: #656d76; --line: #d0d7de; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; padding: 0 1rem 2rem; }
header { display: flex; gap: 1rem; align-items: center; padding: .75rem 0; border-bottom: 1px solid var(--line); position: sticky; top: 0; background: Canvas; z-index: 1; }
header h1 { font-size: 1.1rem; margin: 0; }
.muted { color: var(--muted); }
section.env { border: 1px solid var(--line); border-radius: 8px; padding: .75rem 1rem; margin: 1rem 0; }
section.env h2 { font-size: 1.05rem; margin: 0 0 .5rem; display: flex; gap: .5rem; align-items: baseline; flex-wrap: wrap; }
.actions { display: flex; gap: .5rem; flex-wrap: wrap; margin: .5rem 0; }
button { font: inherit; padding: .3rem .8rem; border-radius: 6px; border: 1px solid var(--line); background: ButtonFace; color: ButtonText; cursor: pointer; }
button:focus-visible, a:focus-visible, input:focus-visible { outline: 3px solid #0969da; outline-offset: 2px; }
button:disabled { opacity: .5; cursor: default; }
table { border-collapse: collapse; width: 100%; margin: .25rem 0 .75rem; }
th, td { text-align: left; padding: .2rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(180px, 1fr)); gap: .5rem; margin: .5rem 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .5rem; }
.card .v { font-size: 1.2rem; font-weight: 600; }
.band { font-size: .8rem; padding: 0 .4rem; border-radius: 4px; border: 1px solid currentColor; }
.band-elite, .ok { color: var(--ok); } .band-high { color: #0969da; } .band-medium, .warn { color: var(--warn); } .band-low, .bad { color: var(--bad); }
.flag { font-weight: 600; color: var(--bad); }
ol.timeline { list-style: none; padding: 0; margin: 0; max-height: 14rem; overflow: auto; }
ol.timeline li { padding: .15rem 0; border-bottom: 1px dashed var(--line); }
pre.log { background: #0d1117; color: #e6edf3; padding: .5rem; border-radius: 6px; max-height: 18rem; overflow: auto; white-space: pre-wrap; }
dialog { border: 1px solid var(--line); border-radius: 8px; padding: 1rem; max-width: 32rem; }
dialog::backdrop { background: rgb(0 0 0 / .35); }
svg.chart { width: 100%; height: 120px; }
svg.chart rect.success { fill: var(--ok); } svg.chart rect.fail { fill: var(--bad); } svg.chart rect.other { fill: var(--warn); }
details summary { cursor: pointer; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
`;

const SCRIPT = `
'use strict';
const token = new URLSearchParams(location.search).get('token') || '';
const $ = (tag, attrs, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v; else if (k.startsWith('on')) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat()) if (k !== undefined && k !== null && k !== false) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
};
const svgEl = (tag, attrs, ...kids) => {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
};
const human = (s) => {
  if (s === null || s === undefined) return '-';
  if (s < 60) return (s < 10 ? s.toFixed(1) : Math.round(s)) + 's';
  if (s < 3600) return Math.floor(s / 60) + 'm' + String(Math.round(s % 60)).padStart(2, '0') + 's';
  if (s < 86400) { const m = Math.round(s / 60); return Math.floor(m / 60) + 'h' + String(m % 60).padStart(2, '0') + 'm'; }
  const h = Math.round(s / 3600); return Math.floor(h / 24) + 'd' + String(h % 24).padStart(2, '0') + 'h';
};
const ago = (iso) => { const t = Date.parse(iso); return Number.isFinite(t) ? human(Math.max(0, (Date.now() - t) / 1000)) : '?'; };
const band = (b) => b ? $('span', { class: 'band band-' + b }, b) : $('span', { class: 'muted' }, 'n/a');
const round = (n, d) => String(Number(n.toFixed(d)));

async function post(action, body) {
  const r = await fetch('/api/' + action, { method: 'POST', headers: { 'content-type': 'application/json', 'x-ee-token': token }, body: JSON.stringify(body) });
  const v = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(v.error || ('HTTP ' + r.status));
  return v.run;
}

const logBox = () => document.getElementById('log');
function follow(run, title) {
  const pre = logBox();
  document.getElementById('log-title').textContent = title;
  pre.textContent = '';
  delete pre.dataset.state;
  document.getElementById('log-panel').hidden = false;
  const es = new EventSource('/api/runs/' + encodeURIComponent(run) + '/events?token=' + encodeURIComponent(token));
  es.addEventListener('line', (ev) => { pre.append(JSON.parse(ev.data).text + '\\n'); pre.scrollTop = pre.scrollHeight; });
  es.addEventListener('end', (ev) => {
    const e = JSON.parse(ev.data);
    pre.append((e.ok ? 'done' : 'FAILED (exit ' + e.exitCode + ')') + '\\n');
    pre.dataset.state = e.ok ? 'ok' : 'failed';
    es.close();
    load(true);
  });
  es.onerror = () => es.close();
}

async function act(kind, env, extra, title) {
  try {
    const run = await post(kind, Object.assign({ project: env.project, env: env.env }, extra));
    follow(run, title);
  } catch (e) { alert(kind + ' failed: ' + e.message); }
}

function ask(title, text, withMessage, confirmLabel, field) {
  return new Promise((resolve) => {
    const d = document.getElementById('dialog');
    document.getElementById('dialog-title').textContent = title;
    document.getElementById('dialog-text').textContent = text;
    const msg = document.getElementById('dialog-message');
    document.getElementById('dialog-label').textContent = (field && field.label) || 'Message (optional)';
    msg.value = (field && field.value) || '';
    document.getElementById('dialog-message-row').hidden = !withMessage;
    document.getElementById('dialog-ok').textContent = confirmLabel;
    d.returnValue = '';
    d.onclose = () => resolve(d.returnValue === 'ok' ? { message: msg.value } : null);
    d.showModal();
    (withMessage ? msg : document.getElementById('dialog-cancel')).focus();
  });
}

async function approve(env) {
  let list;
  try {
    const r = await fetch('/api/approvals?token=' + encodeURIComponent(token) + '&project=' + encodeURIComponent(env.project) + '&env=' + encodeURIComponent(env.env));
    list = await r.json();
    if (!r.ok) throw new Error(list.error || ('HTTP ' + r.status));
  } catch (e) { alert('reading the approval requests failed: ' + e.message); return; }
  if (!list.length) { alert('No pending approval requests for ' + env.key + '.'); return; }
  const text = 'Pending: ' + list.map((p) => p.request + ' by ' + p.requester + (p.commit ? ' (commit ' + p.commit.slice(0, 12) + ')' : '') + ', ' + p.approvals.length + ' of ' + p.needed + ' approval(s)').join('; ') + '. Approve as the dashboard user?';
  const ok = await ask('Approve a deploy of ' + env.key, text, true, 'Approve', { label: 'Request', value: list[0].request });
  if (ok && ok.message) act('approve', env, { request: ok.message.trim() }, 'Approve ' + ok.message.trim() + ' for ' + env.key);
}

function durationChart(env) {
  const data = env.durations;
  if (!data.length) return $('p', { class: 'muted' }, 'No deployments in the last 30 days.');
  const max = Math.max(...data.map((d) => d.seconds), 1);
  const w = 600, h = 110, bw = w / Math.max(data.length, 10);
  const svg = svgEl('svg', { class: 'chart', preserveAspectRatio: 'xMinYMid meet', viewBox: '0 0 ' + w + ' ' + (h + 10), role: 'img', 'aria-label': 'Deploy durations of the last ' + data.length + ' deployments, longest ' + human(max) });
  data.forEach((d, i) => {
    const bh = Math.max(2, (d.seconds / max) * h);
    const cls = d.status === 'success' ? 'success' : (d.status === 'rolled_back' || d.status === 'needs_human') ? 'fail' : 'other';
    svg.append(svgEl('rect', { x: i * bw + 1, y: h - bh, width: Math.max(1, bw - 2), height: bh, class: cls }, svgEl('title', {}, d.release + ' ' + d.status + ': ' + human(d.seconds))));
  });
  svg.append(svgEl('text', { x: 2, y: 10, 'font-size': 10, fill: 'currentColor' }, 'max ' + human(max)));
  return svg;
}

function keys(m) {
  const card = (label, value, b, sub) => $('div', { class: 'card' }, $('div', { class: 'muted' }, label), $('div', { class: 'v' }, value), b === undefined ? null : band(b), sub ? $('div', { class: 'muted' }, sub) : null);
  return $('div', { class: 'grid', role: 'group', 'aria-label': 'DORA metrics, last ' + round(m.window.days, 0) + ' days' },
    card('Deployment frequency', round(m.deployment_frequency.per_day, 2) + '/day', m.deployment_frequency.band, m.deployments + ' deployments, ' + round(m.deployment_frequency.per_week, 1) + '/week'),
    card('Lead time for changes', human(m.lead_time.median_s), m.lead_time.band, 'p90 ' + human(m.lead_time.p90_s)),
    card('Change failure rate', m.change_failure_rate.value === null ? '-' : round(m.change_failure_rate.value * 100, 1) + '%', m.change_failure_rate.band, m.failed + ' failed'),
    card('Time to restore', human(m.time_to_restore.median_s), m.time_to_restore.band, m.time_to_restore.unrestored ? m.time_to_restore.unrestored + ' not restored' : 'mean ' + human(m.time_to_restore.mean_s)),
    card('Deploy duration', 'p50 ' + human(m.duration.p50_s), undefined, 'p90 ' + human(m.duration.p90_s) + ', max ' + human(m.duration.max_s)),
    card('Rollbacks', String(m.rollbacks.manual + m.rollbacks.automatic), undefined, m.rollbacks.manual + ' manual, ' + m.rollbacks.automatic + ' automatic'));
}

function envSection(env) {
  const id = 'env-' + env.key.replace(/[^A-Za-z0-9_-]/g, '_');
  const lock = env.lock;
  const lockText = lock
    ? 'Locked by ' + (lock.user || 'unknown') + (lock.machine ? '@' + lock.machine : '') + (lock.pid ? ' (pid ' + lock.pid + ')' : '') + (lock.command ? ', ' + lock.command : '') + (lock.since ? ' for ' + ago(lock.since) : '') + (lock.message ? ': ' + lock.message : '')
    : 'Not locked';
  const targets = env.rollbackTargets;
  const rollbackBtn = $('button', { type: 'button', 'data-action': 'rollback', disabled: targets.length !== 1, title: targets.length === 1 ? 'Roll back to ' + targets[0] : targets.length ? 'hosts would roll back to different releases: use the CLI' : 'no earlier good release' , onclick: async () => {
    const ok = await ask('Roll back ' + env.project + ' (' + env.env + ')', 'Switch current on ' + env.hosts.length + ' host(s) to release ' + targets[0] + '?', true, 'Roll back to ' + targets[0]);
    if (ok) act('rollback', env, { expect: targets[0], message: ok.message || undefined }, 'Rollback of ' + env.key + ' to ' + targets[0]);
  } }, 'Roll back');
  const hostRows = env.hosts.map((h) => $('tr', { 'data-host': h.host },
    $('td', {}, h.host),
    $('td', { class: 'current' }, h.ok ? (h.current || (h.noLayout ? 'not deployed yet' : 'none')) : ''),
    $('td', {}, h.ok && h.commit ? h.commit.slice(0, 12) : ''),
    $('td', {}, h.ok ? $('span', { class: 'ok' }, 'reachable') : $('span', { class: 'bad' }, 'unreachable: ' + (h.error || '')))));
  return $('section', { class: 'env', id, 'aria-labelledby': id + '-h', 'data-key': env.key },
    $('h2', { id: id + '-h' }, env.project, $('span', { class: 'muted' }, '/ ' + env.env), env.disagree ? $('span', { class: 'flag', role: 'status' }, 'hosts disagree on the current release') : null),
    $('p', { class: lock ? 'warn lock' : 'muted lock' }, lockText),
    $('div', { class: 'actions' },
      $('button', { type: 'button', 'data-action': 'deploy', onclick: async () => { const ok = await ask('Deploy ' + env.project + ' (' + env.env + ')', 'Build and deploy ' + env.project + ' to ' + env.hosts.length + ' host(s)?', true, 'Deploy'); if (ok) act('deploy', env, { message: ok.message || undefined }, 'Deploy of ' + env.key); } }, 'Deploy'),
      rollbackBtn,
      env.approvalsNeeded > 0 ? $('button', { type: 'button', 'data-action': 'approve', onclick: () => approve(env) }, 'Approve') : null,
      lock
        ? $('button', { type: 'button', 'data-action': 'unlock', onclick: async () => { const ok = await ask('Unlock ' + env.key, lockText + '. Remove the lock?', false, 'Unlock'); if (ok) act('unlock', env, {}, 'Unlock ' + env.key); } }, 'Unlock')
        : $('button', { type: 'button', 'data-action': 'lock', onclick: async () => { const ok = await ask('Lock ' + env.key, 'Hold the deploy lock on every host (a freeze)?', true, 'Lock'); if (ok) act('lock', env, { message: ok.message || undefined }, 'Lock ' + env.key); } }, 'Lock')),
    $('table', { class: 'hosts' }, $('caption', { class: 'sr-only' }, 'Current release per host'), $('thead', {}, $('tr', {}, $('th', { scope: 'col' }, 'host'), $('th', { scope: 'col' }, 'current release'), $('th', { scope: 'col' }, 'commit'), $('th', { scope: 'col' }, 'status'))), $('tbody', {}, hostRows)),
    keys(env.metrics),
    $('h3', {}, 'Deploy durations'),
    durationChart(env),
    $('details', { open: true }, $('summary', {}, 'History (' + env.history.length + ')'),
      env.history.length ? $('ol', { class: 'timeline' }, env.history.map((r) => $('li', {},
        $('time', { datetime: r.started }, r.started.replace('T', ' ').replace(/\\.\\d+Z$/, 'Z')), ' ',
        $('strong', {}, r.action), ' ', r.release, ' ',
        $('span', { class: r.status === 'success' ? 'ok' : (r.status === 'rolled_back' || r.status === 'needs_human' || r.status === 'failed') ? 'bad' : 'warn' }, r.status),
        ' by ' + r.user + ', ' + human(r.seconds) + (r.hosts.length ? ' [' + r.hosts.join(', ') + ']' : '')))) : $('p', { class: 'muted' }, 'No history yet.')),
    env.warnings.length ? $('ul', { class: 'warn' }, env.warnings.map((w) => $('li', {}, w))) : null);
}

let loading = false;
async function load(refresh) {
  if (loading) return;
  loading = true;
  const status = document.getElementById('status');
  status.textContent = 'refreshing...';
  try {
    const r = await fetch('/api/state?token=' + encodeURIComponent(token) + (refresh ? '&refresh=1' : ''));
    if (!r.ok) throw new Error('HTTP ' + r.status);
    const s = await r.json();
    const main = document.getElementById('projects');
    const focused = document.activeElement && document.activeElement.closest('section.env');
    const keep = focused ? [focused.dataset.key, document.activeElement.dataset.action] : null;
    main.replaceChildren(...s.projects.flatMap((p) => p.error ? [$('section', { class: 'env' }, $('h2', {}, p.project), $('p', { class: 'bad' }, p.error))] : p.envs.map(envSection)));
    if (!s.projects.length) main.append($('p', {}, 'No registered projects: a successful deploy or init registers one.'));
    if (keep) { const b = main.querySelector('section[data-key="' + CSS.escape(keep[0]) + '"] button[data-action="' + keep[1] + '"]'); if (b) b.focus(); }
    status.textContent = 'updated ' + new Date(s.refreshedAt).toLocaleTimeString() + ' (read in ' + s.tookMs + ' ms)';
    // navigation start to the state on screen (the benchmark reads it)
    if (!document.body.dataset.loaded) document.body.dataset.renderedMs = String(Math.round(performance.now()));
    document.body.dataset.loaded = 'true';
  } catch (e) {
    status.textContent = 'refresh failed: ' + e.message;
  } finally {
    loading = false;
  }
}
document.getElementById('refresh').addEventListener('click', () => load(true));
document.getElementById('dialog-form').addEventListener('submit', (ev) => { ev.preventDefault(); document.getElementById('dialog').close('ok'); });
document.getElementById('dialog-cancel').addEventListener('click', () => document.getElementById('dialog').close(''));
load(false);
// runs started elsewhere show up as lock holders; look again every 15 s
setInterval(() => { if (!document.querySelector('dialog[open]')) load(true); }, 15000);
`;

export function pageHtml(nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>ee-deploy dashboard</title>
<style nonce="${nonce}">${CSS}</style>
</head>
<body>
<header>
  <h1>ee-deploy</h1>
  <button type="button" id="refresh">Refresh</button>
  <span id="status" class="muted" role="status" aria-live="polite"></span>
</header>
<main id="projects" aria-label="Projects and environments"></main>
<section id="log-panel" hidden aria-labelledby="log-title">
  <h2 id="log-title">Run log</h2>
  <pre id="log" class="log" aria-live="polite" tabindex="0"></pre>
</section>
<dialog id="dialog" aria-labelledby="dialog-title">
  <form id="dialog-form" method="dialog">
    <h2 id="dialog-title"></h2>
    <p id="dialog-text"></p>
    <p id="dialog-message-row"><label><span id="dialog-label">Message (optional)</span> <input id="dialog-message" type="text" maxlength="500"></label></p>
    <p class="actions"><button type="submit" id="dialog-ok">OK</button> <button type="button" id="dialog-cancel">Cancel</button></p>
  </form>
</dialog>
<script nonce="${nonce}">${SCRIPT}</script>
</body>
</html>
`;
}
