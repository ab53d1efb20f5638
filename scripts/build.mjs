// Bundles the CLI into one self-contained ESM file: dist/ee-deploy.mjs (no node_modules needed).
// Heavy modules stay lazy because the source imports them with dynamic import().
import { build } from 'esbuild';
import { mkdirSync } from 'node:fs';

mkdirSync('dist', { recursive: true });
await build({
  entryPoints: ['src/cli/main.ts'],
  outfile: 'dist/ee-deploy.mjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // ssh2 optionally loads native crypto bindings; the pure-JS paths are used without them
  external: ['cpu-features', './crypto/build/Release/sshcrypto.node'],
  banner: {
    js: "import { createRequire as __eeCreateRequire } from 'node:module'; const require = __eeCreateRequire(import.meta.url);",
  },
  legalComments: 'none',
  logLevel: 'warning',
});
