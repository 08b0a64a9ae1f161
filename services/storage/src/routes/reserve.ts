/** Handlers that create content: ReserveBlob and RenewUploadToken (transfer spaces), PutBlob (small content). */
import { createHash, timingSafeEqual } from 'node:crypto';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { ServiceImpl } from '@connectrpc/connect';
import type { StorageService } from '#gen/lgsp/storage/v1/storage_service_pb.js';
import { ResourceExhaustedError } from '#lib/errors.js';
import type { StorageContext } from '../context.js';
import { lockAppQuota, lockBlob, stagingBytesOf, updateBlob } from '../db/blobs.js';
import { toBlob } from '../db/rows.js';
import { ByteSource } from '../domain/byte-source.js';
import { blobNotFound, digestMismatch } from '../domain/errors.js';
import { createStagingBlob } from '../domain/new-blob.js';
import { assertTakesContent, receiveContent } from '../domain/receive.js';
import { newToken } from '../domain/tokens.js';
import { recordSuccess } from './audit.js';
import { checkPutBlob, checkRenewUploadToken, checkReserveBlob } from './validate.js';

/** A staging blob made for PutBlob lives this long if its one write fails half-way; then the sweep purges it. */
const PUT_BLOB_TTL_SECONDS = 600;

export function reserveRoutes(ctx: StorageContext): Partial<ServiceImpl<typeof StorageService>> {
  const { db, config } = ctx;
  return {
    async reserveBlob(req, handlerCtx) {
      const input = checkReserveBlob(req, config.maxBlobBytes);
      const { row, uploadToken } = await db.transaction().execute(async (trx) => {
        await lockAppQuota(trx, input.ownerAppId);
        const now = new Date();
        const held = await stagingBytesOf(trx, input.ownerAppId, now);
        if (held + input.sizeBytes > config.appStagingQuotaBytes) {
          throw new ResourceExhaustedError(
            'QUOTA_EXCEEDED',
            `app ${input.ownerAppId} holds ${held} bytes in uploads in progress; ${input.sizeBytes} more would pass its quota of ${config.appStagingQuotaBytes}`,
            {
              app_id: input.ownerAppId,
              quota_bytes: String(config.appStagingQuotaBytes),
              held_bytes: String(held),
              requested_bytes: String(input.sizeBytes),
            },
          );
        }
        return createStagingBlob(ctx, trx, input, now);
      });
      recordSuccess(
        ctx,
        handlerCtx,
        'ReserveBlob',
        row.id,
        `upload space of ${row.size_bytes} bytes for transfer ${row.transfer_id}`,
      );
      return { blob: toBlob(row), uploadToken, tokenExpireTime: timestampFromDate(row.expire_at!) };
    },

    async renewUploadToken(req, handlerCtx) {
      const input = checkRenewUploadToken(req);
      const { token, sha256 } = newToken();
      const row = await db.transaction().execute(async (trx) => {
        const current = await lockBlob(trx, input.blobId);
        if (current === undefined) throw blobNotFound(input.blobId);
        assertTakesContent(current, new Date());
        return updateBlob(trx, input.blobId, {
          upload_token_sha256: sha256,
          expire_at: new Date(Date.now() + input.ttlSeconds * 1000),
        });
      });
      recordSuccess(ctx, handlerCtx, 'RenewUploadToken', row.id, 'upload token renewed');
      return { blob: toBlob(row), uploadToken: token, tokenExpireTime: timestampFromDate(row.expire_at!) };
    },

    async putBlob(req, handlerCtx) {
      const input = checkPutBlob(req);
      const digest = createHash('sha256').update(input.content).digest();
      if (!timingSafeEqual(digest, Buffer.from(input.sha256))) {
        throw digestMismatch('');
      }
      const { row } = await db.transaction().execute((trx) =>
        createStagingBlob(ctx, trx, {
          ...input,
          sizeBytes: input.content.length,
          ttlSeconds: PUT_BLOB_TTL_SECONDS,
        }),
      );
      const sealed = await receiveContent(ctx, row, 0, new ByteSource(once(input.content)));
      recordSuccess(
        ctx,
        handlerCtx,
        'PutBlob',
        sealed.id,
        `${sealed.size_bytes} bytes sealed for transfer ${sealed.transfer_id}`,
      );
      return { blob: toBlob(sealed) };
    },
  };
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}
