/** One readable copied to several hosts at once, at the pace of the slowest. */
import { PassThrough, type Readable } from 'node:stream';

/** per-host buffer in a fan-out before the producer waits for the slowest host */
const FANOUT_HIGH_WATER = 4 * 1024 * 1024;

/**
 * Copies `src` to `n` outputs. The source pauses while any output's buffer is full and resumes
 * once all have drained; an output that is destroyed (its host failed) is dropped; when none is
 * left the source is destroyed.
 */
export function fanout(src: Readable, n: number, highWaterMark = FANOUT_HIGH_WATER): PassThrough[] {
  const outs = Array.from({ length: n }, () => new PassThrough({ highWaterMark }));
  const alive = new Set(outs);
  const blocked = new Set<PassThrough>();
  const maybeResume = () => {
    if (blocked.size === 0 && alive.size > 0 && src.isPaused()) src.resume();
  };
  for (const o of outs) {
    o.on('drain', () => {
      blocked.delete(o);
      maybeResume();
    });
    o.on('close', () => {
      alive.delete(o);
      blocked.delete(o);
      if (alive.size === 0) src.destroy();
      else maybeResume();
    });
    o.on('error', () => {
      /* the consumer's problem; 'close' follows */
    });
  }
  src.on('data', (chunk: Buffer) => {
    for (const o of alive) if (!o.write(chunk)) blocked.add(o);
    if (blocked.size) src.pause();
  });
  src.on('end', () => {
    for (const o of alive) o.end();
  });
  src.on('error', (e) => {
    for (const o of alive) o.destroy(e);
  });
  return outs;
}
