/**
 * A command's `run` is loaded when the command runs, not at start-up: the CLI shell (main.ts,
 * program.ts and each command's `register`) holds only commander and the option definitions, so
 * `ee-deploy --help` evaluates nothing else.
 *
 * Every command is one module, src/cli/commands/<name>.ts, exporting `register(program)` (its
 * options and help, wired to `lazyRun('<name>')`) and `run(...)` (what it does). From sources
 * `loadCommand` (load-command.ts) is a plain dynamic import of that module; scripts/build.mjs
 * gives the bundle and the single executable their own `loadCommand`, built from the same modules.
 */
import { loadCommand } from './load-command.js';

export function lazyRun(name: string): (...args: unknown[]) => Promise<void> {
  return async (...args) => {
    const { run } = await loadCommand(name);
    await (run as (...a: unknown[]) => Promise<void>)(...args);
  };
}
