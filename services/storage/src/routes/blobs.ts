/** Handlers of Stat (metadata) and Purge (deletion of content, Art. 5.3). */
import type { ServiceImpl } from '@connectrpc/connect';
import type { StorageService } from '#gen/lgsp/storage/v1/storage_service_pb.js';
import { callerOf } from '#lib/rpc/caller.js';
import type { StorageContext } from '../context.js';
import { toBlob } from '../db/rows.js';
import { purgeBlob } from '../domain/purge.js';
import { blobForStat } from './access.js';
import { recordSuccess } from './audit.js';
import { checkBlobId, checkPurge } from './validate.js';

export function blobRoutes(ctx: StorageContext): Partial<ServiceImpl<typeof StorageService>> {
  return {
    async stat(req, handlerCtx) {
      const blobId = checkBlobId(req.blobId);
      return { blob: toBlob(await blobForStat(ctx, callerOf(handlerCtx), blobId)) };
    },

    async purge(req, handlerCtx) {
      const input = checkPurge(req);
      const row = await purgeBlob(ctx, input.blobId, input.reason);
      recordSuccess(ctx, handlerCtx, 'Purge', row.id, `content deleted (${row.purge_reason})`);
      return { blob: toBlob(row) };
    },
  };
}
