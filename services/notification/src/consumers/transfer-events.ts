/**
 * Notices from the transfer service's events (Art. 8.5, 9.1):
 * - DeliveryOffered (`<prefix>.transfer.offered.<destination>`) → NEW_DELIVERY
 *   for the destination, with the content inline when the offer carries it;
 * - StatusChanged (`<prefix>.transfer.status.<source>`) → TRANSFER_STATUS for
 *   the source, when its policy asked to be told (notify_source).
 *
 * One durable per event kind, shared by every replica: each event is handled
 * by one of them. A redelivered event creates nothing new: its notice's dedup
 * key is the offer (delivery and attempt) or the status change (its cursor).
 */
import { fromBinary } from '@bufbuild/protobuf';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { DeliveryOfferedSchema, StatusChangedSchema } from '#gen/lgsp/transfer/v1/events_pb.js';
import type { BusMessage, Subscription } from '#lib/bus/bus.js';
import { streamName, subjectOf } from '#lib/infra.js';
import type { NotificationContext } from '../context.js';
import { APP_ID } from '../domain/ids.js';
import { createOne, type NoticeSink } from './group-commit.js';

/** Events in hand at once per replica; their notices are committed together (group-commit.ts). */
export const EVENT_CONCURRENCY = 256;
/**
 * An event a replica took but never acknowledged (it died, or stopped while
 * the event was on its way to it) goes to another replica after this long.
 * Handling one takes milliseconds, so this bounds the delay a lost replica
 * adds to a notice.
 */
export const EVENT_ACK_WAIT_MS = 10_000;
/** A notice kept past its delivery's deadline or its credential's expiry is of no use; but never less than this. */
const MIN_LIFETIME_MS = 60_000;

export const transferDurables = {
  offers: 'notification-transfer-offers',
  status: 'notification-transfer-status',
} as const;

export async function followTransferEvents(
  ctx: NotificationContext,
  sink: NoticeSink,
): Promise<Subscription[]> {
  const prefix = ctx.config.busPrefix;
  // The transfer service owns the stream; ensuring it here lets this service start first.
  const stream = streamName(prefix, 'transfer');
  await ctx.bus.ensureStream({ name: stream, subjects: [subjectOf(prefix, 'transfer', '>')] });
  const offers = await ctx.bus.consume(
    {
      stream,
      durable: transferDurables.offers,
      filterSubjects: [subjectOf(prefix, 'transfer', 'offered', '*')],
      deliverFrom: 'new',
      ackWaitMs: EVENT_ACK_WAIT_MS,
    },
    (msg) => noticeOfOffer(ctx, msg, sink),
    { concurrency: EVENT_CONCURRENCY },
  );
  const status = await ctx.bus.consume(
    {
      stream,
      durable: transferDurables.status,
      filterSubjects: [subjectOf(prefix, 'transfer', 'status', '*')],
      deliverFrom: 'new',
      ackWaitMs: EVENT_ACK_WAIT_MS,
    },
    (msg) => noticeOfStatusChange(ctx, msg, sink),
    { concurrency: EVENT_CONCURRENCY },
  );
  return [offers, status];
}

/** NEW_DELIVERY for the destination of an offer. */
export async function noticeOfOffer(
  ctx: NotificationContext,
  msg: BusMessage,
  sink: NoticeSink = createOne(ctx),
): Promise<void> {
  const offer = decode(ctx, msg, () => fromBinary(DeliveryOfferedSchema, msg.data));
  const delivery = offer?.delivery;
  if (offer === undefined || delivery === undefined || !APP_ID.test(delivery.destinationAppId)) {
    ctx.logger.error(
      { subject: msg.subject, seq: msg.seq },
      'offer event without a usable delivery; dropped',
    );
    return;
  }
  await sink({
    appId: delivery.destinationAppId,
    payload: { case: 'newDelivery', value: { delivery, inlineContent: offer.inlineContent } },
    priority: delivery.priority,
    ...expiring(ctx, delivery.deadline === undefined ? undefined : timestampDate(delivery.deadline)),
    // A re-offer (a later attempt) is news again; a redelivered event is not.
    dedupKey: `transfer.offered:${delivery.id}:${delivery.attempts}`,
  });
}

/** TRANSFER_STATUS for the source of a transfer, when it asked for this change. */
export async function noticeOfStatusChange(
  ctx: NotificationContext,
  msg: BusMessage,
  sink: NoticeSink = createOne(ctx),
): Promise<void> {
  const event = decode(ctx, msg, () => fromBinary(StatusChangedSchema, msg.data));
  if (event === undefined || !event.notifySource) return;
  const change = event.change;
  if (change === undefined || !APP_ID.test(event.sourceAppId) || change.cursor === '') {
    ctx.logger.error({ subject: msg.subject, seq: msg.seq }, 'status event without a usable change; dropped');
    return;
  }
  await sink({
    appId: event.sourceAppId,
    payload: { case: 'transferStatus', value: { change } },
    dedupKey: `transfer.status:${change.cursor}`,
  });
}

/** An expire time no later than `until` (when given) nor the default, and at least a minute away. */
export function expiring(ctx: NotificationContext, until: Date | undefined): { expireAt?: Date } {
  if (until === undefined) return {};
  const now = Date.now();
  const latest = now + ctx.config.noticeTtlSeconds * 1000;
  return { expireAt: new Date(Math.max(now + MIN_LIFETIME_MS, Math.min(latest, until.getTime()))) };
}

/** A message that does not decode can never be handled: logged and dropped rather than redelivered forever. */
export function decode<T>(ctx: NotificationContext, msg: BusMessage, read: () => T): T | undefined {
  try {
    return read();
  } catch (err) {
    ctx.logger.error({ err, subject: msg.subject, seq: msg.seq }, 'event does not decode; dropped');
    return undefined;
  }
}
