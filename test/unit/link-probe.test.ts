/**
 * The link probe against a simulated SSH connection: keepalive answers come back after a round
 * trip plus the time the bytes sent before them take at the link's rate; a busy event loop is
 * simulated by holding answers back and releasing them together.
 */
import { describe, expect, it } from 'vitest';
import type { Client } from 'ssh2';
import { probeLink } from '../../src/transport/ssh/link-probe.js';

/** `busy`: [from, to] ms after the first ping, a stretch in which this process reads nothing */
function fakeLink(o: { rttMs: number; mbit: number; busy?: [number, number] }) {
  const callbacks: ((failed: boolean) => void)[] = [];
  let queuedUntil = 0; // when the bytes sent so far have crossed the link
  let start: number | undefined;
  const bytesPerMs = (o.mbit * 1e6) / 8 / 1000;
  const send = (n: number) => {
    const now = performance.now();
    queuedUntil = Math.max(queuedUntil, now) + n / bytesPerMs;
  };
  const client = {
    _sock: { writable: true },
    _callbacks: callbacks,
    once() {},
    off() {},
    _protocol: {
      _packetRW: { write: { allocStart: 0, alloc: (n: number) => Buffer.alloc(n), finalize: (b: Buffer) => b } },
      _cipher: { encrypt: (b: Buffer) => send(b.length) },
      ping() {
        start ??= performance.now();
        send(64);
        let at = Math.max(queuedUntil, performance.now()) + o.rttMs;
        // an answer arriving while the process is busy is read when it is free again
        if (o.busy && at >= start + o.busy[0] && at < start + o.busy[1]) at = start + o.busy[1];
        const cb = callbacks.shift()!;
        setTimeout(() => cb(false), at - performance.now());
      },
    },
  };
  return client as unknown as Client;
}

describe('probeLink', () => {
  it('measures a slow link as slow and a fast one as fast', async () => {
    const slow = await probeLink(fakeLink({ rttMs: 40, mbit: 20 }));
    expect(slow!.rttMs).toBeGreaterThanOrEqual(18);
    expect(slow!.mbit).toBeGreaterThan(10);
    expect(slow!.mbit).toBeLessThan(40);
    const fast = await probeLink(fakeLink({ rttMs: 1, mbit: 10_000 }));
    expect(fast!.mbit).toBeGreaterThan(400);
  });

  it('answers read together late (a busy event loop) do not make a slow link look fast', async () => {
    // busy from 10 to 250 ms: the first round's answers are read together at 250 ms
    const r = await probeLink(fakeLink({ rttMs: 40, mbit: 20, busy: [10, 250] }));
    expect(r!.mbit).toBeLessThan(200);
  });
});
