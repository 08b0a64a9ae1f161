import type { ConnectRouter } from '@connectrpc/connect';
import { TransferService } from '#gen/lgsp/transfer/v1/transfer_service_pb.js';
import type { TransferContext } from '../context.js';

/**
 * Every RPC of TransferService. The API is drafted in proto/lgsp/transfer/v1; until its
 * issue lands, each RPC answers Unimplemented, which clients can rely on.
 */
export function transferRoutes(_ctx: TransferContext): (router: ConnectRouter) => void {
  return (router) => {
    router.service(TransferService, {});
  };
}
