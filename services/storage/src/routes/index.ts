import type { ConnectRouter } from '@connectrpc/connect';
import { StorageService } from '#gen/lgsp/storage/v1/storage_service_pb.js';
import type { StorageContext } from '../context.js';
import { blobRoutes } from './blobs.js';
import { downloadRoutes } from './download.js';
import { reserveRoutes } from './reserve.js';
import { uploadRoutes } from './upload.js';

/** Every RPC of StorageService, one file per side of a transfer space. */
export function storageRoutes(ctx: StorageContext): (router: ConnectRouter) => void {
  return (router) => {
    router.service(StorageService, {
      ...reserveRoutes(ctx),
      ...uploadRoutes(ctx),
      ...downloadRoutes(ctx),
      ...blobRoutes(ctx),
    });
  };
}
