/**
 * Telling the source that a destination stays offline (Art. 5.9): an open
 * delivery whose destination has been offline longer than the transfer's
 * policy allows (offline_threshold) gets, once per offline spell, a status
 * history entry (actor `platform`, the reason naming the destination and
 * since when) and a DestinationOffline event
 * (`<prefix>.transfer.offline.<source>`), from which the notification
 * service makes a DESTINATION_OFFLINE notice to the source. GetTransfer and
 * GetDeliveryStatus show the entry.
 *
 * The offline time counts from when the destination went offline, as the
 * notification service announced it (destination-presence.ts); for a
 * destination never seen online, from when the delivery was created.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { durationFromMs, timestampFromDate } from '@bufbuild/protobuf/wkt';
import { sql } from 'kysely';
import { DestinationOfflineSchema } from '#gen/lgsp/transfer/v1/events_pb.js';
import { enqueueEvent } from '#lib/db/outbox.js';
import type { TransferContext } from '../context.js';
import { recordChange, transferSubjects } from '../db/history.js';
import { type DeliveryRow, type TransferRow, toStatusChange } from '../db/rows.js';
import { type Db, lockTransfer } from '../db/transfers.js';
import { OPEN_DELIVERY_STATES } from '../domain/states.js';

/** How often the check runs: thresholds are a minute at least, a few seconds late is fine. */
export const OFFLINE_CHECK_MS = 5_000;
const BATCH = 100;

/** A check for the worker's pass that runs at most every OFFLINE_CHECK_MS; resolves with the deliveries warned of. */
export function offlineCheck(ctx: TransferContext): () => Promise<number> {
  let last = 0;
  return async () => {
    if (Date.now() - last < OFFLINE_CHECK_MS) return 0;
    last = Date.now();
    return warnOfflineDestinations(ctx);
  };
}

interface Due {
  readonly deliveryId: string;
  readonly transferId: string;
}

export async function warnOfflineDestinations(ctx: TransferContext, now = new Date()): Promise<number> {
  const due: Due[] = await dueWarnings(ctx.db, now)
    .select(['d.id as deliveryId', 'd.transfer_id as transferId'])
    .orderBy('d.priority', 'desc')
    .orderBy('d.created_at')
    .limit(BATCH)
    .execute();
  let warned = 0;
  for (const transferId of new Set(due.map((d) => d.transferId))) {
    const ids = due.filter((d) => d.transferId === transferId).map((d) => d.deliveryId);
    warned += await ctx.db.transaction().execute((trx) => warnTransfer(ctx, trx, transferId, ids, now));
  }
  if (warned > 0) ctx.outbox.wake();
  return warned;
}

/**
 * Open deliveries whose destination is offline (or was never seen online)
 * past the policy's threshold, and whose source was not told of this spell.
 */
function dueWarnings(db: Db, now: Date) {
  return db
    .selectFrom('deliveries as d')
    .innerJoin('transfers as t', 't.id', 'd.transfer_id')
    .leftJoin('destination_presence as p', 'p.app_id', 'd.destination_app_id')
    .where('d.state', 'in', [...OPEN_DELIVERY_STATES])
    .where((eb) => eb.or([eb('p.state', 'is', null), eb('p.state', '=', 'offline')]))
    .where(sql<boolean>`coalesce(p.transition, 0) > coalesce(d.offline_warned_transition, -1)`)
    .where(
      sql<boolean>`coalesce(p.since, d.created_at) + make_interval(secs => (t.policy->>'offlineThresholdSeconds')::float8) <= ${now}`,
    );
}

async function warnTransfer(
  ctx: TransferContext,
  trx: Db,
  transferId: string,
  deliveryIds: readonly string[],
  now: Date,
): Promise<number> {
  const transfer = await lockTransfer(trx, transferId);
  if (transfer === undefined) return 0;
  // Under the lock, read again: the delivery may have moved on, the destination come back.
  const rows = await dueWarnings(trx, now)
    .selectAll('d')
    .select(['p.since as offline_since', 'p.transition as presence_transition'])
    .where('d.id', 'in', [...deliveryIds])
    .execute();
  for (const row of rows) {
    const { offline_since, presence_transition, ...delivery } = row;
    await warn(ctx, trx, transfer, delivery, offline_since, presence_transition ?? 0, now);
  }
  return rows.length;
}

async function warn(
  ctx: TransferContext,
  trx: Db,
  transfer: TransferRow,
  delivery: DeliveryRow,
  offlineSince: Date | null,
  presenceTransition: number,
  now: Date,
): Promise<void> {
  const prefix = ctx.config.busPrefix;
  const thresholdMs = transfer.policy.offlineThresholdSeconds * 1000;
  await trx
    .updateTable('deliveries')
    .set({ offline_warned_transition: presenceTransition })
    .where('id', '=', delivery.id)
    .execute();
  const since =
    offlineSince === null
      ? `has not been seen online since the delivery was created at ${delivery.created_at.toISOString()}`
      : `has been offline since ${offlineSince.toISOString()}`;
  const reason =
    `destination ${delivery.destination_app_id} (unit ${delivery.destination_unit_code}) ${since}, ` +
    `longer than the policy's offline threshold of ${describeDuration(thresholdMs)}`;
  // A warning, not a change of state: the source hears of it through DestinationOffline.
  const change = await recordChange(trx, prefix, transfer, delivery, {
    actor: 'platform',
    reason,
    notifySource: false,
  });
  await enqueueEvent(trx, {
    subject: transferSubjects(prefix).offline(transfer.source_app_id),
    payload: toBinary(
      DestinationOfflineSchema,
      create(DestinationOfflineSchema, {
        sourceAppId: transfer.source_app_id,
        transferId: transfer.id,
        deliveryId: delivery.id,
        destinationAppId: delivery.destination_app_id,
        destinationUnitCode: delivery.destination_unit_code,
        ...(offlineSince === null ? {} : { offlineSince: timestampFromDate(offlineSince) }),
        threshold: durationFromMs(thresholdMs),
        change: toStatusChange(change),
      }),
    ),
  });
  ctx.logger.info(
    { transferId: transfer.id, deliveryId: delivery.id, destination: delivery.destination_app_id, at: now },
    'source told that a destination stays offline',
  );
}

/** "1h", "90m", "45s": the threshold as the reason shows it. */
export function describeDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s % 86_400 === 0) return `${s / 86_400}d`;
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}
