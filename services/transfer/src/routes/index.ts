import type { ConnectRouter } from '@connectrpc/connect';
import { TransferService } from '#gen/lgsp/transfer/v1/transfer_service_pb.js';
import type { TransferContext } from '../context.js';
import { receiveRoutes } from './receive.js';
import { sendRoutes } from './send.js';
import { statisticsRoutes } from './statistics.js';
import { statusRoutes } from './status.js';

/** Every RPC of TransferService: the send flow, the receive flow, status, history and statistics. */
export function transferRoutes(ctx: TransferContext): (router: ConnectRouter) => void {
  return (router) => {
    router.service(TransferService, {
      ...sendRoutes(ctx),
      ...receiveRoutes(ctx),
      ...statusRoutes(ctx),
      ...statisticsRoutes(ctx),
    });
  };
}
