/**
 * Admission control: at most `slots` generations in flight (handed to the engine), a bounded FIFO
 * of requests waiting for a slot, and an immediate "overloaded" answer past that.
 *
 * The engine has its own FIFO today (one sequence at a time); once it batches, `slots` is the
 * number of sequences it runs together. Either way the server never holds more than
 * slots + maxQueue requests, so memory stays bounded under any load.
 */

export type Release = () => void;

export class OverloadedError extends Error {}

export class AbortedError extends Error {
  constructor() {
    super('the request was aborted by the client');
    this.name = 'AbortError';
  }
}

interface Waiter {
  grant: (r: Release) => void;
  fail: (e: Error) => void;
}

export class SlotPool {
  private used = 0;
  private readonly waiting: Waiter[] = [];

  constructor(readonly slots: number, readonly maxQueue: number) {
    if (!Number.isInteger(slots) || slots < 1) throw new Error(`parallel slots must be an integer >= 1, got ${slots}`);
    if (!Number.isInteger(maxQueue) || maxQueue < 0) throw new Error(`queue size must be an integer >= 0, got ${maxQueue}`);
  }

  get inUse(): number {
    return this.used;
  }

  get queueDepth(): number {
    return this.waiting.length;
  }

  /**
   * A slot, now or after waiting. Throws OverloadedError synchronously (before any await) when
   * the queue is full, and rejects with AbortedError if `signal` fires while waiting.
   */
  acquire(signal?: AbortSignal): Promise<Release> {
    if (signal?.aborted) return Promise.reject(new AbortedError());
    if (this.used < this.slots && this.waiting.length === 0) {
      this.used++;
      return Promise.resolve(this.releaser());
    }
    if (this.waiting.length >= this.maxQueue) {
      throw new OverloadedError(`the server is busy: ${this.used} of ${this.slots} slots in use and ${this.waiting.length} requests waiting (queue limit ${this.maxQueue}); retry later`);
    }
    return new Promise<Release>((resolve, reject) => {
      const onAbort = () => {
        const i = this.waiting.indexOf(w);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(new AbortedError());
      };
      const w: Waiter = {
        grant: (r) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(r);
        },
        fail: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(w);
    });
  }

  /** Reject everyone still waiting (shutdown). */
  failWaiting(e: Error): void {
    for (const w of this.waiting.splice(0)) w.fail(e);
  }

  /** An idempotent release: a slot freed twice would let an extra request in. */
  private releaser(): Release {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.waiting.shift();
      if (next) next.grant(this.releaser());
      else this.used--;
    };
  }
}
