import type { ConnectRouter } from '@connectrpc/connect';
import { SsoService } from '#gen/lgsp/sso/v1/sso_service_pb.js';
import type { SsoContext } from '../context.js';

/**
 * Every RPC of SsoService. The API is drafted in proto/lgsp/sso/v1; until its
 * issue lands, each RPC answers Unimplemented, which clients can rely on.
 */
export function ssoRoutes(_ctx: SsoContext): (router: ConnectRouter) => void {
  return (router) => {
    router.service(SsoService, {});
  };
}
