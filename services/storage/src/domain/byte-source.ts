/**
 * Pulls bytes from an incoming stream in amounts the writer chooses (a
 * segment, the rest of a part), whatever sizes the client's chunks have. A
 * chunk that straddles two segments or two parts is split, never copied.
 *
 * When the stream fails (the client went away, a malformed message), the
 * source ends there and keeps the error: the writer stores what arrived
 * whole, then rethrows it with `throwIfFailed()`.
 */
export class ByteSource {
  readonly #iterator: AsyncIterator<Uint8Array>;
  #pending: Uint8Array | undefined;
  #ended = false;
  #failure: { error: unknown } | undefined;
  #consumed = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#iterator = source[Symbol.asyncIterator]();
  }

  /** Bytes handed out so far. */
  get consumed(): number {
    return this.#consumed;
  }

  get failed(): boolean {
    return this.#failure !== undefined;
  }

  /** True when no byte is left (the stream ended or failed). Waits for the next chunk to know. */
  async atEnd(): Promise<boolean> {
    return !(await this.#fill());
  }

  /** Up to `max` bytes, as views of the received chunks; fewer only at the end of the stream. */
  async take(max: number): Promise<Uint8Array[]> {
    const pieces: Uint8Array[] = [];
    let taken = 0;
    while (taken < max && (await this.#fill())) {
      const chunk = this.#pending!;
      const n = Math.min(chunk.length, max - taken);
      pieces.push(chunk.subarray(0, n));
      this.#pending = chunk.subarray(n);
      taken += n;
    }
    this.#consumed += taken;
    return pieces;
  }

  /** Rethrows the error the stream ended with, if it failed. */
  throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure.error;
  }

  /** Stops reading the stream (e.g. after a refusal), without waiting for the client. */
  async close(): Promise<void> {
    this.#ended = true;
    await this.#iterator.return?.().catch(() => {});
  }

  async #fill(): Promise<boolean> {
    while (this.#pending === undefined || this.#pending.length === 0) {
      if (this.#ended) return false;
      try {
        const next = await this.#iterator.next();
        if (next.done === true) {
          this.#ended = true;
          return false;
        }
        this.#pending = next.value;
      } catch (error) {
        this.#failure = { error };
        this.#ended = true;
        return false;
      }
    }
    return true;
  }
}
