/** templates/ci and action.yml only use commands and flags the CLI has. */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';

const REPO = path.resolve(__dirname, '../..');
const dir = path.join(REPO, 'templates/ci');

describe('CI templates', () => {
  const program = buildProgram();
  const globals = new Set(program.options.flatMap((o) => [o.long, o.short].filter(Boolean) as string[]));
  const files = readdirSync(dir);

  it('hold GitLab CI, cron and a systemd service + timer', () => {
    for (const f of ['gitlab-ci.yml', 'crontab', 'ee-deploy.service', 'ee-deploy.timer']) expect(files).toContain(f);
    expect(readFileSync(path.join(dir, 'ee-deploy.timer'), 'utf8')).toMatch(/^\[Timer\]$/m);
    expect(readFileSync(path.join(dir, 'ee-deploy.service'), 'utf8')).toMatch(/^Type=oneshot$/m);
  });

  it('every `ee-deploy <command> --flag` in them exists', () => {
    let seen = 0;
    for (const f of files) {
      const text = readFileSync(path.join(dir, f), 'utf8');
      for (const m of text.matchAll(/ee-deploy ([a-z-]+)((?: +(?:-[-a-z]+|[^\s'"|&;]+))*)/g)) {
        const sub = program.commands.find((c) => c.name() === m[1]);
        if (!sub) continue; // prose such as "ee-deploy every 10 minutes"
        seen++;
        const known = new Set([...globals, ...sub.options.flatMap((o) => [o.long, o.short].filter(Boolean) as string[])]);
        for (const flag of m[2].split(/\s+/).filter((w) => w.startsWith('-'))) expect(known, `${f}: ${m[0]}`).toContain(flag);
      }
    }
    expect(seen).toBeGreaterThanOrEqual(5);
  });
});
