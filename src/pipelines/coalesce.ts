/**
 * Runs jobs one at a time; a job requested while one runs waits, and every request that arrives
 * meanwhile is folded into that single waiting job (the newest request's details win). Pull
 * mode fetches the branch tip anyway, so one cycle after a burst of pushes deploys the newest.
 */
export class Coalescer<T> {
  private running?: Promise<void>;
  private pending?: { value: T; folded: number };
  private stopped = false;

  constructor(private readonly run: (value: T, folded: number) => Promise<void>) {}

  /** 'started' (ran at once), or 'queued' (will run after the current job) */
  request(value: T): 'started' | 'queued' {
    if (this.running) {
      this.pending = { value, folded: this.pending ? this.pending.folded + 1 : 0 };
      return 'queued';
    }
    this.running = this.loop({ value, folded: 0 });
    return 'started';
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  /** no job starts after this; resolves when the running one has finished */
  async stop(): Promise<void> {
    this.stopped = true;
    this.pending = undefined;
    await this.running;
  }

  /** resolves once nothing runs and nothing waits */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async loop(first: { value: T; folded: number }): Promise<void> {
    let job: { value: T; folded: number } | undefined = first;
    try {
      while (job && !this.stopped) {
        await this.run(job.value, job.folded).catch(() => {});
        job = this.pending;
        this.pending = undefined;
      }
    } finally {
      this.running = undefined;
    }
  }
}
