/** Entry point of the bundle (dist/ee-deploy.mjs) and of the single executable (dist/ee-deploy.cjs). */
import { CommanderError } from 'commander';
import { stopQuietlyOnClosedOutput } from './closed-output.js';
import { buildProgram } from './program.js';

async function main(): Promise<void> {
  stopQuietlyOnClosedOutput();
  const program = buildProgram();
  // every command, not just the root: a subcommand's parse error (unknown option, missing
  // argument) must be exit 2 too, never commander's own process.exit(1)
  for (const c of [program, ...program.commands]) c.exitOverride();
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version exit 0; every other parse problem is a usage error (exit 2)
      process.exitCode = e.exitCode === 0 ? 0 : 2;
    } else throw e;
  }
}

// no top-level await: the single executable runs this as CommonJS
main().catch((e: unknown) => {
  process.stderr.write(`error: unexpected: ${(e as Error)?.stack ?? String(e)}\n`);
  process.exitCode = 1;
});
