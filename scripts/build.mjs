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
    // CommonJS dependencies in the bundle expect require, __filename and __dirname (ssh2's
    // poly1305 wasm loader reads __dirname when it runs under Node)
    js: [
      "import { createRequire as __eeCreateRequire } from 'node:module';",
      "import { fileURLToPath as __eeFileURLToPath } from 'node:url';",
      "import { dirname as __eeDirname } from 'node:path';",
      'const require = __eeCreateRequire(import.meta.url);',
      'const __filename = __eeFileURLToPath(import.meta.url);',
      'const __dirname = __eeDirname(__filename);',
    ].join(' '),
  },
  legalComments: 'none',
  logLevel: 'warning',
});
