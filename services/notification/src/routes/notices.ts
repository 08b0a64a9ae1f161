/**
 * Polling and acknowledgement (Art. 4.5): ListNotices for systems that poll
 * instead of holding a stream, AckNotices so that acknowledged notices are
 * not replayed. An app only ever reads and acknowledges its own notices.
 */
import type { ServiceImpl } from '@connectrpc/connect';
import type { NotificationService } from '#gen/lgsp/notification/v1/notification_service_pb.js';
import type { NotificationContext } from '../context.js';
import { ackNotices, noticeCounts, unackedNotices } from '../db/notices.js';
import { toNotice } from '../db/rows.js';
import { requireApp } from './caller.js';
import { checkAckNotices, checkListNotices } from './checks.js';

export function noticeRoutes(ctx: NotificationContext): Partial<ServiceImpl<typeof NotificationService>> {
  return {
    async listNotices(req, handlerCtx) {
      const caller = requireApp(handlerCtx);
      const input = checkListNotices(req);
      // One more than asked tells whether more follow.
      const rows = await unackedNotices(ctx.db, {
        appId: caller.appId,
        after: input.after,
        kinds: input.kinds,
        limit: input.pageSize + 1,
      });
      const page = rows.slice(0, input.pageSize);
      const last = page.at(-1);
      return {
        notices: page.map(toNotice),
        lastSequence: last === undefined ? input.after : BigInt(last.sequence),
        hasMore: rows.length > input.pageSize,
      };
    },

    async ackNotices(req, handlerCtx) {
      const caller = requireApp(handlerCtx);
      const input = checkAckNotices(req);
      const acked = await ackNotices(ctx.db, caller.appId, input.ids, input.upTo);
      const counts = await noticeCounts(ctx.db, caller.appId);
      return { ackedCount: acked, unackedCount: counts.unacked };
    },
  };
}
