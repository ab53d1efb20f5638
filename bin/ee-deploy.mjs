#!/usr/bin/env node
// Launcher: the CLI is bundled into dist/ee-deploy.mjs by `npm run build` (run on npm install).
import('../dist/ee-deploy.mjs').catch((e) => {
  if (e && e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('dist/ee-deploy.mjs')) {
    process.stderr.write('error: ee-deploy is not built yet: run `npm install` (or `npm run build`)\n');
    process.exit(2);
  }
  throw e;
});
