/**
 * The live fan-out: this replica tails the notice events
 * (`<prefix>.notification.notice.>`) with a consumer of its own that starts at
 * the end of the stream, and hands each notice to the hub, which passes it to
 * the Subscribe streams of its app on this replica. Every replica does the
 * same, so an app gets its notices whichever replica holds its stream. What a
 * replica misses (it was not running, NATS was away) is in Postgres, and the
 * streams read it from there (routes/subscribe.ts).
 */
import { fromBinary } from '@bufbuild/protobuf';
import { NoticeSchema } from '#gen/lgsp/notification/v1/resources_pb.js';
import type { Subscription } from '#lib/bus/bus.js';
import { streamName } from '#lib/infra.js';
import type { NotificationContext } from '../context.js';
import { notificationSubjects } from '../db/events.js';

export async function tailNotices(ctx: NotificationContext): Promise<Subscription> {
  const prefix = ctx.config.busPrefix;
  return ctx.bus.tail(
    { stream: streamName(prefix, 'notification'), filterSubjects: [notificationSubjects(prefix).notices] },
    (msg) => {
      let notice: ReturnType<typeof fromBinary<typeof NoticeSchema>>;
      try {
        notice = fromBinary(NoticeSchema, msg.data);
      } catch (err) {
        ctx.logger.error(
          { err, subject: msg.subject, seq: msg.seq },
          'notice event does not decode; skipped',
        );
        return;
      }
      ctx.hub.dispatch(notice);
    },
  );
}
