/**
 * Loads src/cli/commands/<name>.ts when that command runs. This is the version for sources; the
 * bundle and the single executable replace this module with one over the same command modules
 * (scripts/build.mjs), so nothing else in the CLI knows how a command's code is stored.
 */
export interface CommandModule {
  run: (...args: never[]) => Promise<void>;
}

export async function loadCommand(name: string): Promise<CommandModule> {
  return (await import(`./commands/${name}.js`)) as CommandModule;
}
