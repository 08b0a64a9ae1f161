/**
 * A bound on the Postgres reads of Subscribe streams on one replica. When
 * many apps subscribe at once (a replica went away and its apps all move
 * here) each stream reads its counts and its replay; unbounded, they would
 * take every connection of the pool, and wait past the pool's timeout while
 * the event consumers and the outbox relay wait behind them. Through the
 * gate they queue here instead, in order, for as long as their client waits.
 */
export class ReadGate {
  #active = 0;
  readonly #queue: Array<() => void> = [];

  constructor(readonly limit: number) {
    if (!(limit >= 1)) throw new Error(`a read gate needs a limit of at least 1, got ${limit}`);
  }

  /** Runs `read` once fewer than `limit` reads run; gives up waiting when `signal` aborts. */
  async run<T>(read: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.#enter(signal);
    try {
      return await read();
    } finally {
      this.#leave();
    }
  }

  /** Reads running now and waiting, for metrics and tests. */
  get load(): { readonly active: number; readonly waiting: number } {
    return { active: this.#active, waiting: this.#queue.length };
  }

  #enter(signal: AbortSignal | undefined): Promise<void> {
    signal?.throwIfAborted();
    if (this.#active < this.limit) {
      this.#active++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const turn = () => {
        signal?.removeEventListener('abort', giveUp);
        this.#active++;
        resolve();
      };
      const giveUp = () => {
        const at = this.#queue.indexOf(turn);
        if (at >= 0) this.#queue.splice(at, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', giveUp, { once: true });
      this.#queue.push(turn);
    });
  }

  #leave(): void {
    this.#active--;
    this.#queue.shift()?.();
  }
}
