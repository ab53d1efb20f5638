/**
 * Generated malformed and hostile ee-deploy.yaml texts. Every one must be refused as a
 * usage/config error (exit 2): broken YAML, wrong types, unknown keys, out-of-range numbers,
 * `..` paths, names with shell metacharacters and newlines, huge values, alias bombs, tabs,
 * duplicate keys, documents that are not a mapping, unset ${VAR}s, bad durations.
 */
import { stringify } from 'yaml';

export interface HostileCase {
  name: string;
  text: string;
  env?: Record<string, string>;
}

/** a valid config (as data); mutations break exactly one thing */
function base(): Record<string, unknown> {
  return {
    project: 'shop',
    source: { dir: './app', exclude: ['.git'] },
    keep_releases: 3,
    shared: { dirs: ['storage'], files: ['.env'] },
    hooks: { before_switch: ['echo hi'], after_switch: [] },
    health_checks: [{ name: 'home', http: 'http://127.0.0.1:9/health', expect: { status: 200 } }],
    health_defaults: { timeout: '5s', retries: 3 },
    notifications: { slack: { webhook_url: 'https://hooks.slack.com/x' } },
    environments: { production: { strategy: 'parallel', hosts: [{ host: 'local', path: './.deploy/shop' }] } },
  };
}

const VALID_YAML = stringify(base());

function setIn(obj: Record<string, unknown>, p: (string | number)[], value: unknown): Record<string, unknown> {
  let o = obj as Record<string | number, unknown>;
  for (const k of p.slice(0, -1)) {
    if (typeof o[k] !== 'object' || o[k] === null) o[k] = typeof p[p.indexOf(k) + 1] === 'number' ? [] : {};
    o = o[k] as Record<string | number, unknown>;
  }
  const last = p[p.length - 1];
  if (value === DELETE) delete o[last];
  else o[last] = value;
  return obj;
}
const DELETE = Symbol('delete');

function mutate(p: (string | number)[], value: unknown): string {
  return stringify(setIn(base(), p, value));
}

const HUGE = 'x'.repeat(200_000);
const META = ['shop; rm -rf /', '$(touch /tmp/pwned)', '`id`', 'shop\nrm -rf /', 'a|b', 'a&&b', "it's", 'a b', '../../etc', '*', '$HOME', 'a>b', 'ü', ''];

export function hostileConfigs(): HostileCase[] {
  const out: HostileCase[] = [];
  const add = (name: string, text: string, env?: Record<string, string>) => out.push({ name, text, env });

  // --- broken YAML -------------------------------------------------------------------------
  const broken: [string, string][] = [
    ['unclosed double quote', 'project: "shop\nenvironments: {}\n'],
    ['unclosed single quote', "project: 'shop\n"],
    ['unclosed flow sequence', 'project: shop\nshared: { dirs: [a, b }\n'],
    ['unclosed flow mapping', 'project: shop\nsource: { dir: x\n'],
    ['bad indentation', 'project: shop\nsource:\n  dir: x\n exclude: []\n'],
    ['mapping in a sequence item with bad indent', 'environments:\n  p:\n    hosts:\n    - host: a\n     path: b\n'],
    ['stray colon', 'project: : shop\n'],
    ['invalid escape', 'project: "sh\\qop"\n'],
    ['tab indentation (top)', 'project: shop\nsource:\n\tdir: x\n'],
    ['tab indentation (deep)', VALID_YAML.replace('    hosts:', '\thosts:')],
    ['tab before a list item', 'project: shop\nhooks:\n  before_switch:\n\t- echo\n'],
    ['two documents', `${VALID_YAML}---\nproject: other\n`],
    ['directive without a document start', `%YAML 1.2\n${VALID_YAML}`],
    ['alias to nothing', 'project: *nothing\n'],
    ['anchor without value then garbage', 'project: &a\n  - [\n'],
    ['block scalar with bad indent', 'hooks:\n  before_switch:\n    - |\n  oops\n'],
    ['control character in a plain scalar', 'project: sh\u0001op\n'],
    ['duplicate key (top)', `${VALID_YAML}project: other\n`],
    ['duplicate key (nested)', 'project: shop\nsource:\n  dir: a\n  dir: b\n'],
    ['duplicate key (host)', 'environments:\n  p:\n    hosts: [{ host: a, host: b, path: x }]\n'],
    ['duplicate environment', VALID_YAML + 'environments: {}\n'],
    ['only a key', 'project\n'],
    ['flow garbage', '{ project: shop, , }\n'],
    ['question key garbage', '? [a\n: b\n'],
    ['deep flow nesting (stack)', 'project: ' + '['.repeat(30_000) + ']'.repeat(30_000) + '\n'],
    ['deep block nesting', 'a:\n' + Array.from({ length: 4000 }, (_, i) => ' '.repeat(i + 1) + 'b:').join('\n') + '\n'],
    ['huge implicit key', `${'k'.repeat(5000)}: 1\n`],
    ['BOM in the middle', 'project: shop\n\uFEFFsource: {}\n'],
  ];
  for (const [n, t] of broken) add(`yaml: ${n}`, t);

  // --- not a mapping -------------------------------------------------------------------------
  const docs: [string, string][] = [
    ['empty file', ''],
    ['only whitespace', '   \n\n  '],
    ['only a comment', '# ee-deploy.yaml\n'],
    ['a scalar', 'shop\n'],
    ['a number', '42\n'],
    ['null', 'null\n'],
    ['~', '~\n'],
    ['a list', '- project: shop\n'],
    ['a flow list', '[project, shop]\n'],
    ['a quoted string', '"project: shop"\n'],
    ['explicit empty document', '---\n...\n'],
    ['boolean', 'true\n'],
  ];
  for (const [n, t] of docs) add(`document: ${n}`, t);

  // --- alias bombs and anchors ------------------------------------------------------------------
  const lol = (levels: number, width: number) => {
    const lines = ['a0: &a0 ["lol"]'];
    for (let i = 1; i < levels; i++) lines.push(`a${i}: &a${i} [${Array(width).fill(`*a${i - 1}`).join(', ')}]`);
    return lines.join('\n') + '\n';
  };
  add('alias bomb: 9x9 billion laughs', lol(9, 9) + VALID_YAML);
  add('alias bomb: 20x4', lol(20, 4) + VALID_YAML);
  add('alias bomb inside hooks', `x: &x [${Array(50).fill('"echo"').join(',')}]\n` + VALID_YAML.replace('before_switch:\n      - echo hi', 'before_switch: [*x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x, *x]'));
  add('anchored unknown key', `extra: &e { a: 1 }\n${VALID_YAML}`);
  add('merge key (YAML 1.1 only)', VALID_YAML.replace('  production:\n', '  base: &b { strategy: parallel }\n  production:\n    <<: *b\n'));
  add('recursive alias', 'project: &p [*p]\n');

  // --- unknown keys (typos) at every level ------------------------------------------------------
  const typos: [(string | number)[], string][] = [
    [['projcet'], 'shop'],
    [['soruce'], {} as unknown as string],
    [['keep_release'], 3 as unknown as string],
    [['hoks'], {} as unknown as string],
    [['environment'], {} as unknown as string],
    [['source', 'dirr'], 'x'],
    [['source', 'excludes'], [] as unknown as string],
    [['shared', 'dir'], [] as unknown as string],
    [['hooks', 'before_deploy'], [] as unknown as string],
    [['hooks', 'afterswitch'], [] as unknown as string],
    [['health_checks', 0, 'url'], 'http://x'],
    [['health_checks', 0, 'expect', 'code'], 200 as unknown as string],
    [['health_defaults', 'timout'], '5s'],
    [['notifications', 'slak'], {} as unknown as string],
    [['notifications', 'slack', 'url'], 'https://x'],
    [['environments', 'production', 'stratgy'], 'parallel'],
    [['environments', 'production', 'hosts', 0, 'hostname'], 'web1'],
    [['environments', 'production', 'hosts', 0, 'pth'], '/srv'],
    [['environments', 'production', 'canary', 'host'], 1 as unknown as string],
    [['constructor'], 'x'],
    [['toString'], 'x'],
  ];
  for (const [p, v] of typos) add(`unknown key ${p.join('.')}`, mutate(p, v));
  // __proto__ keys cannot be built as JS data (the assignment sets the prototype): written as text
  add('unknown key __proto__ (top)', `__proto__: { keep_releases: 1 }\n${VALID_YAML}`);
  add('unknown key __proto__ (smuggling a path into a host)', 'project: shop\nenvironments:\n  p:\n    hosts:\n      - host: local\n        __proto__: { path: /etc }\n');
  add('unknown key __proto__ (environment name)', 'project: shop\nenvironments:\n  __proto__: { hosts: [{ host: local, path: /etc }] }\n');
  add('unknown key __proto__ (quoted)', `"__proto__": { project: shop }\n${VALID_YAML.replace('project: shop\n', '')}`);

  // --- wrong types and out-of-range values ---------------------------------------------------------
  const wrong: [(string | number)[], unknown][] = [
    [['project'], 5],
    [['project'], []],
    [['project'], {}],
    [['project'], null],
    [['project'], true],
    [['project'], DELETE],
    [['keep_releases'], '5'],
    [['keep_releases'], -1],
    [['keep_releases'], -5],
    [['keep_releases'], 0],
    [['keep_releases'], 1.5],
    [['keep_releases'], 1e400],
    [['keep_releases'], -1e400],
    [['keep_releases'], Number.NaN],
    [['keep_releases'], 99_999_999_999],
    [['keep_releases'], []],
    [['keep_releases'], { n: 1 }],
    [['source'], 'dist'],
    [['source'], ['dist']],
    [['source', 'dir'], ''],
    [['source', 'dir'], 5],
    [['source', 'exclude'], '.git'],
    [['source', 'exclude'], [1, 2]],
    [['source', 'exclude'], ['']],
    [['source', 'build'], ''],
    [['source', 'build'], ['npm', 'run']],
    [['shared'], ['storage']],
    [['shared', 'dirs'], 'storage'],
    [['shared', 'files'], [5]],
    [['hooks'], ['echo']],
    [['hooks', 'before_switch'], 'echo hi'],
    [['hooks', 'before_switch'], [['echo']]],
    [['hooks', 'before_switch'], ['']],
    [['hooks', 'before_switch'], [null]],
    [['hooks', 'after_switch'], { cmd: 'echo' }],
    [['health_checks'], { name: 'x' }],
    [['health_checks', 0, 'name'], ''],
    [['health_checks', 0, 'http'], 'not a url'],
    [['health_checks', 0, 'script'], './check'],
    [['health_checks', 0, 'http'], DELETE],
    [['health_checks', 0, 'phase'], 'during'],
    [['health_checks', 0, 'expect', 'status'], 99],
    [['health_checks', 0, 'expect', 'status'], 600],
    [['health_checks', 0, 'expect', 'status'], '200'],
    [['health_checks', 0, 'retries'], 0],
    [['health_checks', 0, 'retries'], 1000],
    [['health_checks', 0, 'method'], 'DELETE'],
    [['health_defaults', 'timeout'], '5 years'],
    [['health_defaults', 'timeout'], '-5s'],
    [['health_defaults', 'timeout'], -1],
    [['health_defaults', 'timeout'], '9999999h'],
    [['health_defaults', 'timeout'], '1e999s'],
    [['health_defaults', 'retries'], 0],
    [['health_defaults', 'retries'], 2.5],
    [['health_defaults', 'backoff', 'factor'], 0.5],
    [['health_defaults', 'backoff', 'initial'], 'soon'],
    [['lock_stale_after'], 'forever'],
    [['lock_stale_after'], '99999999999999999999h'],
    [['lock_stale_after'], Infinity],
    [['notifications', 'on'], ['everything']],
    [['notifications', 'on'], 'success'],
    [['notifications', 'slack', 'webhook_url'], 'hooks.slack.com'],
    [['notifications', 'slack', 'webhook_url'], 5],
    [['notifications', 'email'], { host: 'smtp', from: 'a@b' }],
    [['notifications', 'email', 'port'], 70000],
    [['notifications', 'telegram'], { bot_token: '' , chat_id: 1 }],
    [['notifications', 'webhooks'], { url: 'https://x' }],
    [['notifications', 'webhooks'], [{ url: 'https://x', method: 'GET' }]],
    [['notifications', 'templates', 'failure'], '{{project}} {{nonsense}}'],
    [['notifications', 'templates', 'deploy'], 'x'],
    [['environments'], []],
    [['environments'], {}],
    [['environments'], 'production'],
    [['environments'], DELETE],
    [['environments', 'production'], null],
    [['environments', 'production'], []],
    [['environments', 'production', 'hosts'], []],
    [['environments', 'production', 'hosts'], 'web1'],
    [['environments', 'production', 'hosts'], ['web1']],
    [['environments', 'production', 'hosts', 0], null],
    [['environments', 'production', 'hosts', 0, 'host'], 5],
    [['environments', 'production', 'hosts', 0, 'host'], ''],
    [['environments', 'production', 'hosts', 0, 'host'], DELETE],
    [['environments', 'production', 'hosts', 0, 'port'], '22'],
    [['environments', 'production', 'hosts', 0, 'port'], 0],
    [['environments', 'production', 'hosts', 0, 'port'], 70_000],
    [['environments', 'production', 'hosts', 0, 'port'], -22],
    [['environments', 'production', 'hosts', 0, 'port'], 1e20],
    [['environments', 'production', 'hosts', 0, 'path'], ['/srv']],
    [['environments', 'production', 'hosts', 0, 'path'], ''],
    [['environments', 'production', 'hosts', 0, 'path'], DELETE],
    [['environments', 'production', 'strategy'], 'yolo'],
    [['environments', 'production', 'strategy'], 'canary; rm -rf /'],
    [['environments', 'production', 'batch'], 0],
    [['environments', 'production', 'batch'], '150 percent'],
    [['environments', 'production', 'batch'], '1000%'],
    [['environments', 'production', 'max_parallel'], 0],
    [['environments', 'production', 'max_parallel'], 100_000],
    [['environments', 'production', 'pause'], 'a while'],
    [['environments', 'production', 'canary'], { hosts: 0 }],
  ];
  for (const [p, v] of wrong) add(`bad value ${p.join('.')} = ${typeof v === 'symbol' ? '(missing)' : typeof v === 'number' ? String(v) : JSON.stringify(v)}`, mutate(p, v));

  // --- `..` and absolute paths where a relative one is required ------------------------------------------
  for (const bad of ['../etc', 'a/../../b', '..', '/etc', 'a/..', 'x/../../../root/.ssh', 'ok\n../x', 'nul\0byte']) {
    add(`shared.dirs ${JSON.stringify(bad)}`, mutate(['shared', 'dirs'], [bad]));
    add(`shared.files ${JSON.stringify(bad)}`, mutate(['shared', 'files'], [bad]));
  }
  for (const bad of ['/srv/../etc', '..', '../x', 'a/../../b', '/srv/app\n/etc', '~/../root', '/srv/a/..']) add(`host path ${JSON.stringify(bad)}`, mutate(['environments', 'production', 'hosts', 0, 'path'], bad));
  add('environment path with ..', mutate(['environments', 'production', 'path'], '/srv/../../etc'));

  // --- names with shell metacharacters, newlines, unicode -------------------------------------------------
  for (const m of META) {
    add(`project ${JSON.stringify(m)}`, mutate(['project'], m));
    if (m !== 'ü' && m !== '') add(`host ${JSON.stringify(m)}`, mutate(['environments', 'production', 'hosts', 0, 'host'], m));
    if (m !== '' && m !== '../../etc' && m !== '*') add(`user ${JSON.stringify(m)}`, mutate(['environments', 'production', 'hosts', 0, 'user'], m));
    add(`environment name ${JSON.stringify(m)}`, stringify({ ...base(), environments: { [m]: { hosts: [{ host: 'local', path: './x' }] } } }));
  }
  add('project upper case', mutate(['project'], 'Shop'));
  add('project starting with a dash', mutate(['project'], '-shop'));
  add('project 64 characters', mutate(['project'], 'p'.repeat(64)));

  // --- huge values -----------------------------------------------------------------------------------
  add('huge project name', mutate(['project'], HUGE));
  add('huge host name', mutate(['environments', 'production', 'hosts', 0, 'host'], 'h'.repeat(100_000) + ' x'));
  add('huge duration', mutate(['health_defaults', 'timeout'], `${'9'.repeat(5000)}s`));
  add('huge unknown key', stringify({ ...base(), ['k'.repeat(50_000)]: 1 }));
  add('huge number of unknown keys', stringify({ ...base(), ...Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`extra${i}`, i])) }));
  add('huge list of bad hooks', mutate(['hooks', 'before_switch'], [...Array(50_000).fill('echo'), 5]));
  add('huge keep_releases', mutate(['keep_releases'], 1e308));
  add('huge port', 'project: shop\nenvironments:\n  p:\n    hosts: [{ host: a, path: b, port: 1' + '0'.repeat(400) + ' }]\n');

  // --- ${VAR} -------------------------------------------------------------------------------------------
  add('unset ${VAR} in a hook', mutate(['hooks', 'before_switch'], ['echo ${EE_FAULT_UNSET_VAR}']));
  add('unset ${VAR} in a webhook header', mutate(['notifications', 'webhooks'], [{ url: 'https://x', headers: { Authorization: 'Bearer ${EE_FAULT_UNSET_TOKEN}' } }]));
  add('${VAR} making an invalid project', mutate(['project'], '${EE_FAULT_PROJECT}'), { EE_FAULT_PROJECT: 'shop; rm -rf /' });
  add('${VAR} with a newline in a host', mutate(['environments', 'production', 'hosts', 0, 'host'], '${EE_FAULT_HOST}'), { EE_FAULT_HOST: 'web1\nProxyCommand touch /tmp/pwned' });
  add('${VAR} with .. in a path', mutate(['environments', 'production', 'hosts', 0, 'path'], '/srv/${EE_FAULT_DIR}'), { EE_FAULT_DIR: '../etc' });

  return out;
}
