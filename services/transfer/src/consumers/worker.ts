/**
 * The transfer service's background work, on every replica: offering due
 * deliveries to their destinations in priority order (Art. 9.1, 5.4),
 * expiring what passed its deadline or whose upload space closed, and purging
 * the content of finished transfers from storage (Art. 5.3), telling sources
 * of destinations offline too long (Art. 5.9). Each pass takes
 * a bounded batch; rows are locked per transfer, in the same order the
 * handlers lock them, so replicas and handlers never deadlock and never do
 * the same work twice.
 */
import { sql } from 'kysely';
import { PurgeReason } from '#gen/lgsp/storage/v1/resources_pb.js';
import type { Subscription } from '#lib/bus/bus.js';
import { startPeriodic } from '#lib/periodic.js';
import type { TransferContext } from '../context.js';
import { newOffer, recordOffer } from '../db/history.js';
import { toDelivery } from '../db/rows.js';
import type { TransferStateName } from '../db/schema.js';
import { type Db, lockTransfer, updateDelivery } from '../db/transfers.js';
import { moveDelivery, moveTransfer } from '../db/transitions.js';
import { retryDelayMs } from '../domain/policy.js';
import { offlineCheck } from './offline-warnings.js';

const TICK_MS = 1_000;
const BATCH = 100;

export function startWorker(ctx: TransferContext): Subscription {
  const warnOffline = offlineCheck(ctx);
  const task = startPeriodic({
    name: 'transfer worker pass',
    intervalMs: TICK_MS,
    logger: ctx.logger,
    pass: async () => {
      // Offers first: under a backlog, the most urgent work is what destinations wait for.
      const offered = await offerDue(ctx);
      const expired = await expireDue(ctx);
      const purged = await purgeDue(ctx);
      // Destinations offline past their transfers' thresholds (Art. 5.9): offline-warnings.ts.
      const warned = await warnOffline();
      return offered === BATCH || expired === BATCH || purged === BATCH || warned === BATCH;
    },
  });
  ctx.onWake(() => task.wake());
  return task;
}

/** Transfers with a due offer, most urgent first; each transfer's due deliveries are offered under its lock. */
async function offerDue(ctx: TransferContext): Promise<number> {
  const now = new Date();
  const due = await ctx.db
    .selectFrom('deliveries')
    .select(['transfer_id'])
    .where((eb) =>
      eb.or([
        eb('state', '=', 'pending'),
        eb.and([eb('state', 'in', ['notified', 'accepted']), eb('next_attempt_at', '<=', now)]),
      ]),
    )
    .orderBy('priority', 'desc')
    .orderBy('created_at')
    .limit(BATCH)
    .execute();
  const transferIds = [...new Set(due.map((d) => d.transfer_id))];
  const inline = await inlineContents(ctx, transferIds);
  let offered = 0;
  for (const id of transferIds) {
    offered += await ctx.db.transaction().execute((trx) => offerTransfer(ctx, trx, id, now, inline.get(id)));
  }
  if (offered > 0) ctx.outbox.wake();
  return due.length;
}

/**
 * Small content travels in the offer itself, so a destination can confirm
 * without a download (DESIGN: small content). Read before any lock is taken.
 */
async function inlineContents(
  ctx: TransferContext,
  transferIds: readonly string[],
): Promise<Map<string, Uint8Array>> {
  if (transferIds.length === 0) return new Map();
  const small = await ctx.db
    .selectFrom('transfers')
    .select(['id', 'blob_id', 'size_bytes'])
    .where('id', 'in', [...transferIds])
    .where('size_bytes', '<=', String(ctx.config.inlineMaxBytes))
    .where('finished_at', 'is', null)
    .execute();
  const contents = new Map<string, Uint8Array>();
  for (const row of small) {
    const parts: Uint8Array[] = [];
    for await (const chunk of ctx.storage.read(row.blob_id, Number(row.size_bytes))) parts.push(chunk);
    contents.set(row.id, Buffer.concat(parts));
  }
  return contents;
}

async function offerTransfer(
  ctx: TransferContext,
  trx: Db,
  transferId: string,
  now: Date,
  inlineContent: Uint8Array | undefined,
): Promise<number> {
  const prefix = ctx.config.busPrefix;
  let transfer = await lockTransfer(trx, transferId);
  if (transfer === undefined || transfer.finished_at !== null) return 0;
  const deliveries = await trx
    .selectFrom('deliveries')
    .selectAll()
    .where('transfer_id', '=', transferId)
    .where((eb) =>
      eb.or([
        eb('state', '=', 'pending'),
        eb.and([eb('state', 'in', ['notified', 'accepted']), eb('next_attempt_at', '<=', now)]),
      ]),
    )
    .execute();
  let offered = 0;
  for (const delivery of deliveries) {
    if (delivery.attempts >= transfer.policy.maxAttempts) {
      const reason = `not confirmed after ${delivery.attempts} offers`;
      transfer = (
        await moveDelivery(trx, prefix, transfer, delivery, 'failed', { actor: 'platform', reason })
      ).transfer;
      continue;
    }
    const attempts = delivery.attempts + 1;
    const fields = {
      attempts,
      notified_at: delivery.notified_at ?? now,
      next_attempt_at: new Date(now.getTime() + retryDelayMs(attempts)),
    };
    const updated =
      delivery.state === 'pending'
        ? (
            await moveDelivery(
              trx,
              prefix,
              transfer,
              delivery,
              'notified',
              { actor: 'platform', reason: 'destination notified' },
              fields,
            )
          ).delivery
        : await updateDelivery(trx, delivery.id, { ...fields, state: 'notified' });
    await recordOffer(
      trx,
      prefix,
      newOffer({
        delivery: toDelivery(updated, transfer),
        ...(inlineContent === undefined ? {} : { inlineContent }),
      }),
    );
    offered += 1;
  }
  return offered;
}

async function expireDue(ctx: TransferContext): Promise<number> {
  const prefix = ctx.config.busPrefix;
  const now = new Date();
  const late = await ctx.db
    .selectFrom('deliveries')
    .select('transfer_id')
    .distinct()
    .where('state', 'in', ['pending', 'notified', 'accepted'])
    .where('deadline', '<=', now)
    .limit(BATCH)
    .execute();
  for (const { transfer_id } of late) {
    await ctx.db.transaction().execute(async (trx) => {
      let transfer = await lockTransfer(trx, transfer_id);
      if (transfer === undefined) return;
      const open = await trx
        .selectFrom('deliveries')
        .selectAll()
        .where('transfer_id', '=', transfer_id)
        .where('state', 'in', ['pending', 'notified', 'accepted'])
        .where('deadline', '<=', now)
        .execute();
      for (const delivery of open) {
        const reason = 'the deadline passed before the destination confirmed';
        transfer = (
          await moveDelivery(trx, prefix, transfer, delivery, 'expired', { actor: 'platform', reason })
        ).transfer;
      }
    });
  }
  const closed = await ctx.db
    .selectFrom('transfers')
    .select('id')
    .where('state', 'in', ['requested', 'uploading'])
    .where('upload_expires_at', '<=', now)
    .limit(BATCH)
    .execute();
  for (const { id } of closed) {
    await ctx.db.transaction().execute(async (trx) => {
      const transfer = await lockTransfer(trx, id);
      if (transfer === undefined || !['requested', 'uploading'].includes(transfer.state)) return;
      await moveTransfer(trx, prefix, transfer, 'expired', {
        actor: 'platform',
        reason: 'the upload space expired before the transfer was committed',
      });
    });
  }
  if (late.length + closed.length > 0) ctx.outbox.wake();
  return Math.max(late.length, closed.length);
}

const PURGE_REASONS: Partial<Record<TransferStateName, PurgeReason>> = {
  delivered: PurgeReason.DELIVERED,
  partially_delivered: PurgeReason.DELIVERED,
  expired: PurgeReason.EXPIRED,
  cancelled: PurgeReason.CANCELLED,
};

/** Content of finished transfers leaves storage; only metadata and the digest stay (Art. 5.3). */
async function purgeDue(ctx: TransferContext): Promise<number> {
  const due = await ctx.db
    .selectFrom('transfers')
    .select(['id', 'blob_id', 'state'])
    .where('purge_due', '=', true)
    .orderBy('finished_at')
    .limit(BATCH)
    .execute();
  for (const row of due) {
    if (row.blob_id !== '')
      await ctx.storage.purge(row.blob_id, PURGE_REASONS[row.state] ?? PurgeReason.FAILED);
    await ctx.db
      .updateTable('transfers')
      .set({ purge_due: false, purged_at: sql<Date>`now()` })
      .where('id', '=', row.id)
      .execute();
  }
  return due.length;
}
