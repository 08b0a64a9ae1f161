/**
 * The statistics consumer (Art. 5.12): it reads the platform's events — this
 * service's StatusChanged and the notification service's PresenceChanged —
 * from the start of their streams, and adds each to the per-day aggregates.
 *
 * Idempotent: every event becomes a fact with a unique key (a delivery and
 * its outcome; an app's transition number), and only the transaction that
 * writes the fact adds to the aggregates. A redelivery or a replay of the
 * whole stream finds the facts there and adds nothing; events of one delivery
 * arriving in any order give the same figures.
 *
 * A delivery's figures belong to the day it was planned (sent). The facts
 * the events do not carry (units, size, planning time) are read from this
 * service's own tables, where they never change once a delivery exists.
 */
import { fromBinary } from '@bufbuild/protobuf';
import { durationMs, timestampDate } from '@bufbuild/protobuf/wkt';
import { PresenceChangedSchema } from '#gen/lgsp/notification/v1/events_pb.js';
import { PresenceState } from '#gen/lgsp/notification/v1/resources_pb.js';
import { StatusChangedSchema } from '#gen/lgsp/transfer/v1/events_pb.js';
import type { BusMessage, ConsumerSpec, Subscription } from '#lib/bus/bus.js';
import { streamName, subjectOf } from '#lib/infra.js';
import type { TransferContext } from '../context.js';
import {
  addPresence,
  addTraffic,
  delta,
  insertFact,
  insertPresenceFact,
  type Outcome,
  settleFact,
  statsDb,
} from '../db/statistics.js';
import { findDelivery, findTransfer } from '../db/transfers.js';
import { deliveryStates, transferStates } from '../domain/states.js';
import { dayOf, splitByDay } from '../domain/statistics.js';
import { consumeWhenReady } from './consume-when-ready.js';

export const STATISTICS_DURABLE = 'transfer-statistics';
export const STATISTICS_PRESENCE_DURABLE = 'transfer-statistics-presence';
const OUTCOMES = new Set<string>(['delivered', 'refused', 'expired', 'failed', 'cancelled']);

export function statusSpec(prefix: string, durable = STATISTICS_DURABLE): ConsumerSpec {
  return {
    stream: streamName(prefix, 'transfer'),
    durable,
    filterSubjects: [subjectOf(prefix, 'transfer', 'status', '*')],
    deliverFrom: 'all',
  };
}

export function presenceSpec(prefix: string, durable = STATISTICS_PRESENCE_DURABLE): ConsumerSpec {
  return {
    stream: streamName(prefix, 'notification'),
    durable,
    filterSubjects: [subjectOf(prefix, 'notification', 'presence', '*')],
    deliverFrom: 'all',
  };
}

export async function startStatistics(ctx: TransferContext): Promise<Subscription[]> {
  const prefix = ctx.config.busPrefix;
  const traffic = await ctx.bus.consume(statusSpec(prefix), (msg) => countStatusChange(ctx, msg), {
    concurrency: 4,
  });
  // The notification service owns its stream: wait until it exists.
  const presence = await consumeWhenReady(ctx, presenceSpec(prefix), (msg) => countPresence(ctx, msg), {
    concurrency: 4,
    what: 'connection statistics',
  });
  return [traffic, presence];
}

/** Adds one StatusChanged event to the statistics (once, whatever the replays). */
export async function countStatusChange(ctx: TransferContext, msg: BusMessage): Promise<void> {
  let change: ReturnType<typeof fromBinary<typeof StatusChangedSchema>>['change'];
  try {
    change = fromBinary(StatusChangedSchema, msg.data).change;
  } catch (err) {
    ctx.logger.error(
      { err, subject: msg.subject, seq: msg.seq },
      'unreadable StatusChanged event; not counted',
    );
    return;
  }
  if (change?.occurTime === undefined) return;
  const at = timestampDate(change.occurTime);
  const offset = ctx.config.statsUtcOffsetMinutes;
  const db = statsDb(ctx.db);
  const transfer = await findTransfer(ctx.db, change.transferId);
  if (transfer === undefined) {
    ctx.logger.warn({ transferId: change.transferId, seq: msg.seq }, 'StatusChanged of an unknown transfer');
    return;
  }
  if (change.deliveryId !== '') {
    const delivery = await findDelivery(ctx.db, change.deliveryId);
    if (delivery === undefined) return;
    const state = deliveryStates.fromProto(change.deliveryState);
    const fact = {
      id: delivery.id,
      sourceUnitCode: transfer.source_unit_code,
      destinationUnitCode: delivery.destination_unit_code,
      day: dayOf(delivery.created_at, offset),
      sizeBytes: transfer.size_bytes,
      plannedAt: delivery.created_at,
    };
    const sides = {
      source_unit_code: fact.sourceUnitCode,
      destination_unit_code: fact.destinationUnitCode,
      day: fact.day,
    };
    await db.transaction().execute(async (trx) => {
      if (await insertFact(trx, fact)) {
        await addTraffic(trx, sides, delta({ packages: 1, bytes: fact.sizeBytes }));
      }
      if (state !== undefined && OUTCOMES.has(state)) {
        const settled = await settleFact(trx, fact.id, state as Outcome, at);
        if (settled !== undefined) {
          const deliveryMs = at.getTime() - delivery.created_at.getTime();
          await addTraffic(trx, sides, delta({ outcome: state as Outcome, deliveryMs }));
        }
      }
    });
    return;
  }
  // A transfer that ended before any delivery was planned counts once, with no counterparty.
  const state = transferStates.fromProto(change.transferState);
  if (state === undefined || !OUTCOMES.has(state)) return;
  const planned = await ctx.db
    .selectFrom('deliveries')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('transfer_id', '=', transfer.id)
    .executeTakeFirstOrThrow();
  if (Number(planned.n) > 0) return;
  const fact = {
    id: transfer.id,
    sourceUnitCode: transfer.source_unit_code,
    destinationUnitCode: '',
    day: dayOf(transfer.created_at, offset),
    sizeBytes: transfer.size_bytes,
    plannedAt: transfer.created_at,
  };
  await db.transaction().execute(async (trx) => {
    if (!(await insertFact(trx, fact))) return;
    await settleFact(trx, fact.id, state as Outcome, at);
    await addTraffic(
      trx,
      { source_unit_code: fact.sourceUnitCode, destination_unit_code: '', day: fact.day },
      delta({ packages: 1, bytes: fact.sizeBytes, outcome: state as Outcome }),
    );
  });
}

/**
 * Adds one PresenceChanged event: a connect or a disconnect on its day, and,
 * for a disconnect, the online spell it ended (its previous_duration) spread
 * over the days it covered.
 */
export async function countPresence(ctx: TransferContext, msg: BusMessage): Promise<void> {
  let changed: ReturnType<typeof fromBinary<typeof PresenceChangedSchema>>;
  try {
    changed = fromBinary(PresenceChangedSchema, msg.data);
  } catch (err) {
    ctx.logger.error(
      { err, subject: msg.subject, seq: msg.seq },
      'unreadable PresenceChanged event; not counted',
    );
    return;
  }
  const event = changed.event;
  const state =
    event?.state === PresenceState.ONLINE
      ? 'online'
      : event?.state === PresenceState.OFFLINE
        ? 'offline'
        : undefined;
  if (event === undefined || state === undefined || event.occurTime === undefined || event.unitCode === '') {
    ctx.logger.warn(
      { subject: msg.subject, seq: msg.seq },
      'PresenceChanged without app, unit or time; not counted',
    );
    return;
  }
  const at = timestampDate(event.occurTime);
  const offset = ctx.config.statsUtcOffsetMinutes;
  const key = { unitCode: event.unitCode, appId: event.appId };
  await statsDb(ctx.db)
    .transaction()
    .execute(async (trx) => {
      const fresh = await insertPresenceFact(trx, {
        ...key,
        transition: String(changed.transition),
        state,
        occurredAt: at,
      });
      if (!fresh) return;
      await addPresence(
        trx,
        { ...key, day: dayOf(at, offset) },
        state === 'online' ? { connects: 1 } : { disconnects: 1 },
      );
      if (state === 'offline' && event.previousDuration !== undefined) {
        const end = at.getTime();
        for (const part of splitByDay(end - durationMs(event.previousDuration), end, offset)) {
          await addPresence(trx, { ...key, day: part.day }, { onlineMs: part.ms });
        }
      }
    });
}
