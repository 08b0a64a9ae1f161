/**
 * The storage sweep, on every replica side by side (rows are claimed with
 * SKIP LOCKED, so each blob is handled by one of them):
 * - STAGING blobs past their expiry are purged (reason EXPIRED);
 * - STAGING blobs holding every byte but never sealed (a crash between the
 *   last part and the seal) are finished;
 * - PURGED blobs whose objects could not all be deleted are retried;
 * - expired download grants are dropped.
 */
import type { Subscription } from '#lib/bus/bus.js';
import { startPeriodic } from '#lib/periodic.js';
import type { StorageContext } from '../context.js';
import {
  claimContentToDelete,
  claimExpiredStaging,
  claimUnfinished,
  deleteExpiredGrants,
} from '../db/blobs.js';
import type { BlobRow } from '../db/rows.js';
import { deleteContent, markPurged, removeContent } from '../domain/purge.js';
import { finishUpload } from '../domain/receive.js';

export const SWEEP_INTERVAL_MS = 30_000;
const BATCH = 50;
/** An upload holding every byte for this long without a seal was left by a crash. */
const UNFINISHED_AFTER_MS = 60_000;

export interface SweepResult {
  readonly expired: string[];
  readonly finished: string[];
  readonly contentDeleted: string[];
}

export async function sweepStorage(ctx: StorageContext, now: Date = new Date()): Promise<SweepResult> {
  const result: SweepResult = { expired: [], finished: [], contentDeleted: [] };

  for (;;) {
    const purged: BlobRow[] = await ctx.db.transaction().execute(async (trx) => {
      const rows = await claimExpiredStaging(trx, now, BATCH);
      const out: BlobRow[] = [];
      for (const row of rows) out.push(await markPurged(ctx, trx, row, 'expired'));
      return out;
    });
    if (purged.length > 0) ctx.outbox.wake();
    for (const row of purged) {
      await removeContent(ctx, row);
      result.expired.push(row.id);
    }
    if (purged.length < BATCH) break;
  }

  const unfinished = await ctx.db
    .transaction()
    .execute((trx) => claimUnfinished(trx, new Date(now.getTime() - UNFINISHED_AFTER_MS), BATCH));
  for (const row of unfinished) {
    await finishUpload(ctx, row.id).then(
      () => result.finished.push(row.id),
      (err: unknown) => ctx.logger.warn({ err, blobId: row.id }, 'unfinished upload not sealed'),
    );
  }

  // Deleting while the rows are claimed keeps two replicas from deleting the same blob's objects at once.
  await ctx.db.transaction().execute(async (trx) => {
    for (const row of await claimContentToDelete(trx, BATCH)) {
      await deleteContent(ctx, row, [], trx).then(
        () => result.contentDeleted.push(row.id),
        (err: unknown) => ctx.logger.warn({ err, blobId: row.id }, 'purged content still not deleted'),
      );
    }
  });

  await deleteExpiredGrants(ctx.db, new Date(now.getTime() - 24 * 3600_000));
  return result;
}

export function startSweep(ctx: StorageContext, intervalMs = SWEEP_INTERVAL_MS): Subscription {
  return startPeriodic({
    name: 'storage sweep',
    intervalMs,
    firstDelayMs: 1_000,
    logger: ctx.logger,
    pass: async () => {
      const r = await sweepStorage(ctx);
      if (r.expired.length + r.finished.length + r.contentDeleted.length > 0)
        ctx.logger.info(r, 'storage sweep');
    },
  });
}
