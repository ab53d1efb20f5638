/** Entry point of the bundle (dist/ee-deploy.mjs). */
import { CommanderError } from 'commander';
import { buildProgram } from './program.js';

const program = buildProgram();
program.exitOverride();
try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    // --help and --version exit 0; every other parse problem is a usage error (exit 2)
    process.exitCode = e.exitCode === 0 ? 0 : 2;
  } else throw e;
}
