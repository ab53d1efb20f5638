/**
 * Everything a command needs once it runs (config, SSH, deploy, notifications...). The CLI shell
 * (main.ts, program.ts, commands/) loads this lazily, on the first action: `ee-deploy --help`
 * never evaluates it, and the bundle keeps it out of the parse path (scripts/build.mjs).
 */
export { checkAction } from './actions/check.js';
export { deployAction } from './actions/deploy.js';
export { historyAction } from './actions/history.js';
export { initAction } from './actions/init.js';
export { lockAction } from './actions/lock.js';
export { maintenanceAction } from './actions/maintenance.js';
export { unlockAction } from './actions/lock.js';
export { notifyAction } from './actions/notify.js';
export { releasesAction } from './actions/releases.js';
export { rollbackAction } from './actions/rollback.js';
