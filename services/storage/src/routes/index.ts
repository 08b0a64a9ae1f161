import type { ConnectRouter } from '@connectrpc/connect';
import { StorageService } from '#gen/lgsp/storage/v1/storage_service_pb.js';
import type { StorageContext } from '../context.js';

/**
 * Every RPC of StorageService. The API is drafted in proto/lgsp/storage/v1; until its
 * issue lands, each RPC answers Unimplemented, which clients can rely on.
 */
export function storageRoutes(_ctx: StorageContext): (router: ConnectRouter) => void {
  return (router) => {
    router.service(StorageService, {});
  };
}
