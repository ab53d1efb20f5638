/**
 * Output into a pipe whose reader has gone (`ee-deploy history | head -1`). Node reports that as
 * an EPIPE 'error' event, which unhandled is a crash with a stack trace. Like git, which its
 * SIGPIPE stops, ee-deploy stops quietly instead: later writes to that stream are dropped, and a
 * running command is interrupted as by a signal, so its cleanup runs (lock released, `current`
 * on a complete release). A command that completes anyway keeps its exit code; with no command
 * running (--help, --version) the process just ends as it would have.
 */
type OnClosed = () => void;

/**
 * The running command's handler lives on the process, not in this module: the bundle evaluates
 * the CLI shell (which installs the listeners) and the command code (which registers) as two
 * separate copies of this module (scripts/build.mjs).
 */
const RUNNING = Symbol.for('ee-deploy.closed-output.running');
const slot = globalThis as { [RUNNING]?: OnClosed };

/** `onClosed` runs when stdout or stderr turns out closed, until the returned function is called */
export function whileRunning(onClosed: OnClosed): () => void {
  slot[RUNNING] = onClosed;
  return () => {
    if (slot[RUNNING] === onClosed) slot[RUNNING] = undefined;
  };
}

export function stopQuietlyOnClosedOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e;
      // nothing will read it any more: accept and drop, still calling back whoever waits on a write
      stream.write = ((_chunk: unknown, enc?: unknown, cb?: unknown) => {
        const done = typeof enc === 'function' ? enc : cb;
        if (typeof done === 'function') process.nextTick(done as () => void);
        return true;
      }) as typeof stream.write;
      slot[RUNNING]?.();
    });
  }
}
