/**
 * The presence of destination apps (Art. 5.9), from the notification
 * service's PresenceChanged events (`<prefix>.notification.presence.<app>`),
 * kept in `destination_presence` for the worker's offline check. One durable
 * shared by every replica; an event older than what is stored (a
 * redelivery, relays interleaving) changes nothing: the transition number
 * decides.
 *
 * The notification service owns its stream (and its retention): this
 * service never creates it, it waits until it exists.
 */
import { fromBinary } from '@bufbuild/protobuf';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { PresenceChangedSchema } from '#gen/lgsp/notification/v1/events_pb.js';
import { PresenceState } from '#gen/lgsp/notification/v1/resources_pb.js';
import type { BusMessage, Subscription } from '#lib/bus/bus.js';
import { streamName, subjectOf } from '#lib/infra.js';
import type { TransferContext } from '../context.js';
import { consumeWhenReady } from './consume-when-ready.js';

export const PRESENCE_DURABLE = 'transfer-destination-presence';
const APP_ID = /^app_[0-9a-f]{16}$/;

export async function followDestinationPresence(ctx: TransferContext): Promise<Subscription> {
  const prefix = ctx.config.busPrefix;
  const spec = {
    stream: streamName(prefix, 'notification'),
    durable: PRESENCE_DURABLE,
    filterSubjects: [subjectOf(prefix, 'notification', 'presence', '*')],
    deliverFrom: 'all' as const,
  };
  return consumeWhenReady(ctx, spec, (msg) => storePresence(ctx, msg), {
    concurrency: 8,
    what: 'destination presence',
  });
}

export async function storePresence(ctx: TransferContext, msg: BusMessage): Promise<void> {
  let changed: ReturnType<typeof fromBinary<typeof PresenceChangedSchema>>;
  try {
    changed = fromBinary(PresenceChangedSchema, msg.data);
  } catch (err) {
    ctx.logger.error(
      { err, subject: msg.subject, seq: msg.seq },
      'unreadable PresenceChanged event; dropped',
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
  if (
    event === undefined ||
    state === undefined ||
    event.occurTime === undefined ||
    !APP_ID.test(event.appId) ||
    changed.transition < 1n
  ) {
    ctx.logger.error(
      { subject: msg.subject, seq: msg.seq },
      'PresenceChanged event without a usable transition; dropped',
    );
    return;
  }
  const row = {
    app_id: event.appId,
    state,
    since: timestampDate(event.occurTime),
    transition: Number(changed.transition),
  } as const;
  await ctx.db
    .insertInto('destination_presence')
    .values(row)
    .onConflict((oc) =>
      oc
        .column('app_id')
        .doUpdateSet({
          state: row.state,
          since: row.since,
          transition: row.transition,
          updated_at: new Date(),
        })
        .where('destination_presence.transition', '<', row.transition),
    )
    .execute();
}
