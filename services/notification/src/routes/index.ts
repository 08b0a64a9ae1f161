import type { ConnectRouter } from '@connectrpc/connect';
import { NotificationService } from '#gen/lgsp/notification/v1/notification_service_pb.js';
import type { NotificationContext } from '../context.js';
import { noticeRoutes } from './notices.js';
import { presenceRoutes } from './presence.js';
import { sendRoutes } from './send.js';
import { subscribeRoutes } from './subscribe.js';
import { webhookRoutes } from './webhooks.js';

/**
 * Every RPC of NotificationService: the notice stream (subscribe.ts), polling
 * and acknowledgement (notices.ts), messages between apps (send.ts),
 * Heartbeat and presence (presence.ts), webhooks (webhooks.ts).
 */
export function notificationRoutes(ctx: NotificationContext): (router: ConnectRouter) => void {
  return (router) => {
    router.service(NotificationService, {
      ...subscribeRoutes(ctx),
      ...noticeRoutes(ctx),
      ...sendRoutes(ctx),
      ...presenceRoutes(ctx),
      ...webhookRoutes(ctx),
    });
  };
}
