/**
 * Command actions are loaded on first use: the CLI shell (main.ts, program.ts, commands/) holds
 * only commander and the option definitions, so `ee-deploy --help` evaluates nothing else. The
 * bundle keeps core.ts and everything it needs out of the start-up parse (scripts/build.mjs).
 */
import type * as Core from './core.js';

export type ActionName = keyof typeof Core;

export function lazyAction(name: ActionName): (...args: unknown[]) => Promise<void> {
  return async (...args) => {
    const core = await import('./core.js');
    await (core[name] as (...a: unknown[]) => Promise<unknown>)(...args);
  };
}
