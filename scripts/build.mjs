// Builds the two artifacts of `npm run build`:
//
//   dist/ee-deploy.mjs          one self-contained ESM file (runs without node_modules)
//   dist/ee-deploy-linux-x64    a Node single executable (SEA) of dist/ee-deploy.cjs
//
// Every command is one module, src/cli/commands/<name>.ts: `register(program)` defines its options
// and help, `run(...)` does the work (src/cli/lazy.ts). Start-up: the .mjs holds the CLI shell
// (commander, main.ts, program.ts and every `register`) as code, and every `run` with all it needs
// (config, SSH, deploy, notifications, ~3 MB: "the core") as plain text in a comment at its end.
// V8 skips a comment almost for free but must at least pre-parse code, even code that never runs,
// so `ee-deploy --help` costs about a bare `node`. The first command to run decodes the core and
// compiles it with vm.Script, reusing V8's code cache from the previous run (in the user cache
// dir; keyed by the core's hash and the Node version), so commands do not pay the full compile
// either. Measured against one plain ESM file with the same lazy evaluation (paired runs, median
// CPU): --help 0.16 s against 0.27 s, a local rollback 0.35 s against 0.49 s.
//
// The SEA needs CommonJS (Node 20): dist/ee-deploy.cjs bundles shell and core as plain code
// (the core is still evaluated lazily, on the first action) and the executable is built with
// `useCodeCache`. Set EE_SKIP_SEA=1 to build only the .mjs/.cjs (never in CI: the binary test
// expects the executable).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const template = readFileSync('templates/ee-deploy.yaml', 'utf8');
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  // ssh2 optionally loads native crypto bindings; without them it uses node:crypto / its JS code
  plugins: [noNativeAddons()],
  define: { __EE_TEMPLATE__: JSON.stringify(template) },
  legalComments: 'none',
  logLevel: 'warning',
  // init's fallback for sources reads import.meta.url; bundles always take the embedded template
  logOverride: { 'empty-import-meta': 'silent' },
};

/**
 * ssh2's optional native add-ons (cpu-features, its own sshcrypto.node) become modules that throw
 * when required, as when they are not installed: ssh2 catches that and falls back, and nothing
 * tries to load a file from disk (which a single executable cannot: Node warns on each try).
 */
function noNativeAddons() {
  return {
    name: 'no-native-addons',
    setup(b) {
      b.onResolve({ filter: /^cpu-features$|sshcrypto\.node$/ }, (args) => ({ path: args.path, namespace: 'no-native' }));
      b.onLoad({ filter: /.*/, namespace: 'no-native' }, (args) => ({ contents: `throw new Error(${JSON.stringify(`${args.path} is not bundled`)});`, loader: 'js' }));
    },
  };
}

/**
 * Our modules under src/ do nothing when imported but declare things (no top-level statement
 * runs), so esbuild may drop a module none of whose exports is used: a command module's `run`
 * and everything only it imports then stay out of the shell, which uses only `register`.
 */
function srcWithoutSideEffects() {
  const src = path.resolve('src') + path.sep;
  return {
    name: 'src-without-side-effects',
    setup(b) {
      b.onResolve({ filter: /^\.\.?\// }, async (args) => {
        if (args.pluginData === 'again' || !args.importer.startsWith(src)) return undefined;
        const r = await b.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: 'again' });
        return r.errors.length || !r.path.startsWith(src) ? r : { ...r, sideEffects: false };
      });
    },
  };
}

mkdirSync('dist', { recursive: true });

// The commands: one module each, src/cli/commands/<name>.ts, exporting `register` (shell) and `run`
const commands = readdirSync('src/cli/commands').filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3)).sort();
for (const c of commands) if (!/^[a-z][a-z0-9-]*$/.test(c)) throw new Error(`src/cli/commands/${c}.ts: a command module is named as the command`);
const commandPath = (c) => `./src/cli/commands/${c}.ts`;

/** replaces src/cli/load-command.ts (a plain dynamic import, for sources) with `contents` */
function replaceLoadCommand(contents) {
  return {
    name: 'load-command',
    setup(b) {
      b.onResolve({ filter: /^\.\/load-command\.js$/ }, (args) => (args.importer.endsWith(path.join('src', 'cli', 'lazy.ts')) ? { path: 'load-command', namespace: 'ee-load-command' } : undefined));
      b.onLoad({ filter: /.*/, namespace: 'ee-load-command' }, () => ({ contents, loader: 'js', resolveDir: process.cwd() }));
    },
  };
}

// 1. the core: every command's `run` (and all it needs) as CommonJS text, evaluated later by the
// loader below. Whitespace-minified (no comments: smaller to read and to hash, and no `*/` from
// JSDoc), ASCII only. Each command's `register` is tree-shaken away here.
const core = await build({
  ...common,
  stdin: { contents: commands.map((c, i) => `export { run as c${i} } from ${JSON.stringify(commandPath(c))};`).join('\n'), resolveDir: process.cwd(), loader: 'ts', sourcefile: 'ee-deploy-core.ts' },
  plugins: [replaceLoadCommand('export function loadCommand() { throw new Error("loadCommand is for the CLI shell"); }'), noNativeAddons()],
  format: 'cjs',
  write: false,
  outfile: 'core.cjs',
  metafile: true,
  minifyWhitespace: true,
  charset: 'ascii',
});
const coreText = core.outputFiles[0].text;
// a dynamic import() left in the core would need a module loader inside vm.Script
const dynamic = Object.values(core.metafile.outputs).flatMap((o) => o.imports.filter((i) => i.kind === 'dynamic-import'));
if (dynamic.length) throw new Error(`the core bundle keeps dynamic imports: ${dynamic.map((i) => i.path).join(', ')}`);
const coreHash = createHash('sha256').update(coreText).digest('hex').slice(0, 32);
// the core sits in a block comment as plain text: its own `*/` (in strings, regexps) become
// `*<DEL>/`, a character the core does not contain. The whole file stays ASCII: Node then reads it
// as a one-byte string, which V8 scans, hashes and checks against the code cache ~3x faster than
// the two-byte string any other character would turn the 3 MB into (measured: 10 ms against 35)
if (/[^\x00-\x7e]/.test(coreText)) throw new Error('the core bundle is not ASCII-only (or contains DEL)');
const coreComment = coreText.replaceAll('*/', '*\x7f/');

/** the .mjs's `loadCommand`: on first use decode the trailing comment, compile it with code cache */
const mjsLoadCommand = `
import envPaths from 'env-paths';
const COMMANDS = ${JSON.stringify(commands)};
let core;
function loadCore() {
  const { mkdirSync, readFileSync, renameSync, writeFileSync } = require('node:fs');
  const path = require('node:path');
  const vm = require('node:vm');
  const file = require('node:url').fileURLToPath(import.meta.url);
  const self = readFileSync(file, 'latin1'); // ASCII: the fastest decoding, a one-byte string
  const MARK = '\\n/*@@ee-core ';
  const at = self.lastIndexOf(MARK);
  if (at < 0) throw new Error(file + ': the embedded core is missing (rebuild with npm run build)');
  const hash = self.slice(at + MARK.length, at + MARK.length + 32);
  const code = self.slice(at + MARK.length + 33, self.lastIndexOf('*/')).replaceAll('*\\x7f/', '*/');
  const cacheFile = path.join(process.env.EE_DEPLOY_CACHE_DIR || envPaths('ee-deploy', { suffix: '' }).cache, 'code', hash + '-' + process.version + '-' + process.arch);
  let cachedData;
  try { cachedData = readFileSync(cacheFile); } catch {}
  const script = new vm.Script('(function (exports, require, module, __filename, __dirname) {' + code + '\\n})', {
    filename: path.join(path.dirname(file), 'ee-deploy-core.cjs'),
    cachedData,
  });
  if (!cachedData || script.cachedDataRejected) {
    // written once, when the process ends: by then it holds every function this command compiled
    process.once('exit', () => {
      try {
        const data = script.createCachedData();
        mkdirSync(path.dirname(cacheFile), { recursive: true });
        writeFileSync(cacheFile + '.' + process.pid, data);
        renameSync(cacheFile + '.' + process.pid, cacheFile);
      } catch {}
    });
  }
  const mod = { exports: {} };
  script.runInThisContext()(mod.exports, require, mod, file, path.dirname(file));
  return mod.exports;
}
export async function loadCommand(name) {
  const i = COMMANDS.indexOf(name);
  if (i < 0) throw new Error('unknown command module: ' + name);
  core ??= loadCore();
  return { run: core['c' + i] };
}
`;

// 2. the shell as ESM (main.ts, program.ts, each command's `register`), the core appended as a comment
const shell = await build({
  ...common,
  entryPoints: ['src/cli/main.ts'],
  format: 'esm',
  write: false,
  outfile: 'dist/ee-deploy.mjs',
  plugins: [replaceLoadCommand(mjsLoadCommand), srcWithoutSideEffects(), noNativeAddons()],
  banner: {
    js: "import { createRequire as __eeCreateRequire } from 'node:module'; const require = __eeCreateRequire(import.meta.url);",
  },
});
const shellText = shell.outputFiles[0].text;
if (shellText.length > 400_000) throw new Error(`the CLI shell is ${shellText.length} bytes: something heavy is reached from a command's register() (keep it in run())`);
const mjs = `${shellText}\n/*@@ee-core ${coreHash}\n${coreComment}*/\n`;
if (/[^\x00-\x7f]/.test(mjs)) throw new Error('dist/ee-deploy.mjs is not ASCII-only (see the core comment above)');
writeFileSync('dist/ee-deploy.mjs', mjs);

// 3. CommonJS for the single executable (Node 20's SEA runs a CommonJS main script)
// every command module behind a dynamic import(): esbuild keeps it in the file and evaluates it on
// first use (its code is compiled from the executable's code cache)
const cjsLoadCommand = `const modules = { ${commands.map((c) => `${JSON.stringify(c)}: () => import(${JSON.stringify(commandPath(c))})`).join(', ')} };
export async function loadCommand(name) { return modules[name](); }`;
await build({ ...common, entryPoints: ['src/cli/main.ts'], format: 'cjs', outfile: 'dist/ee-deploy.cjs', plugins: [replaceLoadCommand(cjsLoadCommand), noNativeAddons()] });

// 4. the single executable
if (process.env.EE_SKIP_SEA === '1') {
  console.log('built dist/ee-deploy.mjs, dist/ee-deploy.cjs (EE_SKIP_SEA=1: no single executable)');
} else {
  const target = `dist/ee-deploy-${process.platform}-${process.arch}`;
  const blob = 'dist/ee-deploy.sea.blob';
  const seaConfig = 'dist/sea-config.json';
  writeFileSync(seaConfig, JSON.stringify({ main: 'dist/ee-deploy.cjs', output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }));
  execFileSync(process.execPath, ['--experimental-sea-config', seaConfig], { stdio: ['ignore', 'ignore', 'inherit'] });
  rmSync(target, { force: true });
  copyFileSync(process.execPath, target);
  chmodSync(target, 0o755);
  const postject = path.join('node_modules', 'postject', 'dist', 'cli.js');
  execFileSync(process.execPath, [postject, target, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'], { stdio: ['ignore', 'ignore', 'inherit'] });
  rmSync(blob);
  rmSync(seaConfig);
  // fail loudly now rather than in the test: the executable must start
  const out = execFileSync(target, ['--version'], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } }).trim();
  console.log(`built dist/ee-deploy.mjs, dist/ee-deploy.cjs, ${target} (${out})`);
}
