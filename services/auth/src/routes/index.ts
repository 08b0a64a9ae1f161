import type { ConnectRouter } from '@connectrpc/connect';
import { AuthService } from '#gen/lgsp/auth/v1/auth_service_pb.js';
import type { AuthContext } from '../context.js';

/**
 * Every RPC of AuthService. The API is drafted in proto/lgsp/auth/v1; until its
 * issue lands, each RPC answers Unimplemented, which clients can rely on.
 */
export function authRoutes(_ctx: AuthContext): (router: ConnectRouter) => void {
  return (router) => {
    router.service(AuthService, {});
  };
}
