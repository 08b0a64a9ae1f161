/**
 * SendNotice (Art. 4.5): a short message from one app to another app, or to
 * every receiving app of a unit. The sender needs a SEND grant on the
 * recipient, as for a transfer; the registry answers both which apps the
 * recipient leads to and whether the grant is there. Nothing is written
 * unless every check passes.
 */
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import type { NotificationService } from '#gen/lgsp/notification/v1/notification_service_pb.js';
import { type Route, RouteOutcome } from '#gen/lgsp/registry/v1/registry_service_pb.js';
import { AuditOutcome } from '#lib/audit.js';
import { FailedPreconditionError, NotFoundError, PermissionDeniedError } from '#lib/errors.js';
import { callerOf } from '#lib/rpc/caller.js';
import type { NotificationContext } from '../context.js';
import { createNotices, noticesCommitted } from '../domain/notices.js';
import { requireApp } from './caller.js';
import { checkSendNotice } from './checks.js';

export const NOTIFICATION_SERVICE = 'lgsp.notification.v1.NotificationService';

export function sendRoutes(ctx: NotificationContext): Partial<ServiceImpl<typeof NotificationService>> {
  return {
    async sendNotice(req, handlerCtx) {
      const caller = requireApp(handlerCtx);
      const input = checkSendNotice(req);
      const route = await ctx.registry.resolveRecipient(input.recipient, caller.appId);
      const appIds = receivingApps(route, input.recipientName, caller.appId);
      const expireAt = new Date(Date.now() + input.ttlSeconds * 1000);
      const notices = await ctx.db.transaction().execute((trx) =>
        createNotices(
          ctx,
          trx,
          appIds.map((appId) => ({
            appId,
            expireAt,
            payload: {
              case: 'appMessage',
              value: {
                fromAppId: caller.appId,
                fromUnitCode: caller.unitCode,
                topic: input.topic,
                contentType: input.contentType,
                body: input.body,
              },
            },
          })),
        ),
      );
      noticesCommitted(ctx);
      recordSent(ctx, handlerCtx, input.recipientName, appIds);
      return { noticeIds: notices.map((n) => n.id), appIds: notices.map((n) => n.appId) };
    },
  };
}

/** The apps a route leads to, the sender left out; or the refusal that says why there are none. */
function receivingApps(route: Route, recipient: string, senderAppId: string): string[] {
  const detail = { recipient };
  const why = route.message === '' ? '' : `: ${route.message}`;
  switch (route.outcome) {
    case RouteOutcome.OK:
      break;
    case RouteOutcome.NOT_FOUND:
      throw new NotFoundError('RECIPIENT_NOT_FOUND', `recipient ${recipient} was not found${why}`, detail);
    case RouteOutcome.INACTIVE:
      throw new FailedPreconditionError(
        'RECIPIENT_INACTIVE',
        `recipient ${recipient} is not active${why}`,
        detail,
      );
    case RouteOutcome.NO_RECEIVING_APP:
      throw new FailedPreconditionError(
        'NO_RECEIVING_APP',
        `recipient ${recipient} has no active receiving app${why}`,
        detail,
      );
    case RouteOutcome.NOT_GRANTED:
      throw new PermissionDeniedError(
        'RECIPIENT_NOT_GRANTED',
        `you hold no SEND grant for ${recipient}; an administrator grants it with CreateGrant`,
        detail,
      );
    default:
      throw new FailedPreconditionError(
        'RECIPIENT_UNREACHABLE',
        `recipient ${recipient} cannot be reached${why}`,
        detail,
      );
  }
  if (route.peerZoneCode !== '') {
    throw new FailedPreconditionError(
      'PEER_ZONE_UNSUPPORTED',
      `recipient ${recipient} is hosted by zone ${route.peerZoneCode}, which notices do not reach yet`,
      { ...detail, peer_zone_code: route.peerZoneCode },
    );
  }
  const apps = [...new Set(route.apps.map((a) => a.appId))].filter((id) => id !== senderAppId);
  if (apps.length === 0) {
    throw new FailedPreconditionError(
      'NO_RECIPIENT_APP',
      `recipient ${recipient} leads to no app other than the sender`,
      detail,
    );
  }
  return apps;
}

function recordSent(
  ctx: NotificationContext,
  handlerCtx: HandlerContext,
  recipient: string,
  apps: string[],
): void {
  ctx.audit.record({
    actor: callerOf(handlerCtx),
    action: `${NOTIFICATION_SERVICE}/SendNotice`,
    object: recipient,
    outcome: AuditOutcome.SUCCEEDED,
    message: `message notice sent to ${apps.length} app(s): ${apps.join(', ')}`.slice(0, 1000),
  });
}
