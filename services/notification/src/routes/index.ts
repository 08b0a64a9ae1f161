import type { ConnectRouter } from '@connectrpc/connect';
import { NotificationService } from '#gen/lgsp/notification/v1/notification_service_pb.js';
import type { NotificationContext } from '../context.js';

/**
 * Every RPC of NotificationService. The API is drafted in proto/lgsp/notification/v1; until its
 * issue lands, each RPC answers Unimplemented, which clients can rely on.
 */
export function notificationRoutes(_ctx: NotificationContext): (router: ConnectRouter) => void {
  return (router) => {
    router.service(NotificationService, {});
  };
}
