/**
 * DESTINATION_OFFLINE notices (Art. 5.9): the transfer service tells, once
 * per delivery and offline spell, that a destination of an open delivery has
 * stayed offline longer than the transfer's policy allows
 * (DestinationOffline on `<prefix>.transfer.offline.<source>`); the source
 * gets a notice. One durable shared by every replica; a redelivered event
 * creates nothing new (the notice's dedup key is the history entry).
 */
import { fromBinary } from '@bufbuild/protobuf';
import { DestinationOfflineSchema } from '#gen/lgsp/transfer/v1/events_pb.js';
import type { BusMessage, Subscription } from '#lib/bus/bus.js';
import { streamName, subjectOf } from '#lib/infra.js';
import type { NotificationContext } from '../context.js';
import { APP_ID } from '../domain/ids.js';
import { createOne, type NoticeSink } from './group-commit.js';
import { decode } from './transfer-events.js';

export const DESTINATION_OFFLINE_DURABLE = 'notification-destination-offline';

export async function followDestinationOffline(
  ctx: NotificationContext,
  sink: NoticeSink,
): Promise<Subscription> {
  const prefix = ctx.config.busPrefix;
  // The transfer service owns the stream; ensuring it here lets this service start first.
  const stream = streamName(prefix, 'transfer');
  await ctx.bus.ensureStream({ name: stream, subjects: [subjectOf(prefix, 'transfer', '>')] });
  return ctx.bus.consume(
    {
      stream,
      durable: DESTINATION_OFFLINE_DURABLE,
      filterSubjects: [subjectOf(prefix, 'transfer', 'offline', '*')],
      deliverFrom: 'new',
    },
    (msg) => noticeOfDestinationOffline(ctx, msg, sink),
    { concurrency: 4 },
  );
}

export async function noticeOfDestinationOffline(
  ctx: NotificationContext,
  msg: BusMessage,
  sink: NoticeSink = createOne(ctx),
): Promise<void> {
  const event = decode(ctx, msg, () => fromBinary(DestinationOfflineSchema, msg.data));
  if (event === undefined) return;
  const cursor = event.change?.cursor ?? '';
  if (!APP_ID.test(event.sourceAppId) || event.deliveryId === '' || cursor === '') {
    ctx.logger.error(
      { subject: msg.subject, seq: msg.seq },
      'DestinationOffline event without a usable delivery; dropped',
    );
    return;
  }
  await sink({
    appId: event.sourceAppId,
    payload: {
      case: 'destinationOffline',
      value: {
        transferId: event.transferId,
        deliveryId: event.deliveryId,
        destinationAppId: event.destinationAppId,
        destinationUnitCode: event.destinationUnitCode,
        ...(event.offlineSince === undefined ? {} : { offlineSince: event.offlineSince }),
        ...(event.threshold === undefined ? {} : { threshold: event.threshold }),
      },
    },
    dedupKey: `transfer.offline:${cursor}`,
  });
}
