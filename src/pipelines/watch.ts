/** `watch`: a Watcher cycle every `intervalMs` until the signal aborts. */
import { sleep } from '../util/sleep.js';
import { Watcher, type CycleResult, type WatcherOptions } from './watcher.js';

export interface WatchLoopOptions extends WatcherOptions {
  intervalMs: number;
  /** one call per cycle */
  log: (r: CycleResult) => void;
  /** stop after this many cycles (tests) */
  maxCycles?: number;
}

export async function watchLoop(o: WatchLoopOptions): Promise<number> {
  const w = new Watcher(o);
  let cycles = 0;
  while (!o.signal?.aborted) {
    const started = Date.now();
    const r = await w.cycle();
    o.log(r);
    cycles++;
    if (o.signal?.aborted || (o.maxCycles !== undefined && cycles >= o.maxCycles)) break;
    // the interval runs from the start of a cycle: a slow deploy does not push every later poll back
    await sleep(Math.max(0, o.intervalMs - (Date.now() - started)), o.signal);
  }
  return cycles;
}
