/** README recipes that the suites run for real (so the README cannot drift from what is tested). */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO } from './cli.js';

function block(marker: string): string {
  const readme = readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const m = new RegExp(`<!-- ${marker} -->\\n\`\`\`\\w*\\n([\\s\\S]*?)\`\`\``).exec(readme);
  if (!m) throw new Error(`README: no block marked ${marker}`);
  return m[1];
}

/** the plain-nohup after_switch hook, with the app's port read from the shared file `port` */
export const RESTART_HOOK: string = (() => {
  const yaml = block('recipe-nohup');
  const m = /- '(.*)'\s*$/m.exec(yaml);
  if (!m) throw new Error('README: the nohup recipe has no hook line');
  return m[1].replace('PORT=3000', 'PORT=$(cat port)');
})();
