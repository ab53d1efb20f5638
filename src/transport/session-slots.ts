/**
 * At most `limit` sessions at once on one SSH connection (OpenSSH's MaxSessions is 10 by
 * default), the others waiting in order. Both clients (ssh/ssh-transport.ts and
 * openssh/transport.ts) run every exec through one of these. When the server refuses a session
 * while others run, the client calls `lower()` and throws `SessionRefused`: the exec then waits
 * again at the front of the queue instead of failing.
 */
export class SessionRefused extends Error {}

export class SessionSlots {
  active = 0;
  private readonly waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];

  constructor(public limit: number) {
    this.limit = Math.max(1, limit);
  }

  /** runs `fn` in a slot; `unusable` is asked before and after waiting (a lost connection fails at once) */
  async run<T>(unusable: () => Error | undefined, fn: () => Promise<T>): Promise<T> {
    const bad = unusable();
    if (bad) throw bad;
    let retry = false;
    for (;;) {
      await this.acquire(retry);
      try {
        const again = unusable();
        if (again) throw again;
        return await fn();
      } catch (e) {
        if (!(e instanceof SessionRefused)) throw e;
        retry = true;
      } finally {
        this.release();
      }
    }
  }

  /** the server refused a session while `active` ran: fewer from now on */
  lower(): void {
    this.limit = Math.max(1, Math.min(this.limit, this.active - 1));
  }

  /** every waiting exec fails with `err` (the connection is lost or closed) */
  failAll(err: Error): void {
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  private acquire(front: boolean): Promise<void> {
    if (this.active < this.limit && this.waiters.length === 0) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => (front ? this.waiters.unshift({ resolve, reject }) : this.waiters.push({ resolve, reject })));
  }

  private release(): void {
    this.active--;
    while (this.active < this.limit && this.waiters.length) {
      this.active++;
      this.waiters.shift()!.resolve();
    }
  }
}
