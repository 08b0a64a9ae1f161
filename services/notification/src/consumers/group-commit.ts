/**
 * Group commit of the notices made from events. Handlers hand in one draft
 * each; the drafts that arrive while a transaction runs are created together
 * in the next one, so a burst (one transfer to 500 recipients is 500 offers)
 * costs a few transactions instead of one per event, and a lone event waits
 * for nothing. A handler's promise settles when its notice is committed (or
 * found to exist already), so the bus acks the event only then.
 */
import type { NotificationContext } from '../context.js';
import { createNotices, type NoticeDraft, noticesCommitted } from '../domain/notices.js';

/** Where a handler puts the notice an event makes. */
export type NoticeSink = (draft: NoticeDraft) => Promise<void>;

/** Creates each draft in a transaction of its own (tests, and a batch's retry one by one). */
export function createOne(ctx: NotificationContext): NoticeSink {
  return async (draft) => {
    const created = await ctx.db.transaction().execute((trx) => createNotices(ctx, trx, [draft]));
    if (created.length > 0) noticesCommitted(ctx);
  };
}

interface Waiting {
  readonly draft: NoticeDraft;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

export class GroupCommit {
  #waiting: Waiting[] = [];
  #running = false;

  constructor(
    private readonly ctx: NotificationContext,
    private readonly maxBatch = 200,
  ) {}

  readonly add: NoticeSink = (draft) =>
    new Promise<void>((resolve, reject) => {
      this.#waiting.push({ draft, resolve, reject });
      this.#start();
    });

  #start(): void {
    if (this.#running) return;
    this.#running = true;
    // Let the other messages of the same pull reach `add` first.
    setImmediate(() => {
      void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    try {
      while (this.#waiting.length > 0) await this.#commit(this.#waiting.splice(0, this.maxBatch));
    } finally {
      this.#running = false;
    }
  }

  async #commit(batch: Waiting[]): Promise<void> {
    try {
      await this.ctx.db.transaction().execute((trx) =>
        createNotices(
          this.ctx,
          trx,
          batch.map((w) => w.draft),
        ),
      );
      noticesCommitted(this.ctx);
      for (const w of batch) w.resolve();
    } catch (error) {
      if (batch.length === 1) {
        batch[0]!.reject(error);
        return;
      }
      // One bad draft must not hold back the others: each on its own, and only its event comes back.
      const one = createOne(this.ctx);
      for (const w of batch) await one(w.draft).then(w.resolve, w.reject);
    }
  }
}
