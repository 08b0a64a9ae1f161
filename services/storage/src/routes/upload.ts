/** Handlers of the uploader's RPCs: Upload (client stream), UploadChunk (unary), GetUploadStatus. */
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import { BlobState } from '#gen/lgsp/storage/v1/resources_pb.js';
import type { StorageService, UploadRequest } from '#gen/lgsp/storage/v1/storage_service_pb.js';
import { InvalidArgumentError } from '#lib/errors.js';
import { callerOf } from '#lib/rpc/caller.js';
import type { StorageContext } from '../context.js';
import { partAt } from '../db/blobs.js';
import { type BlobRow, blobStates, toBlob } from '../db/rows.js';
import { ByteSource } from '../domain/byte-source.js';
import { blobPurged, offsetMismatch, tooManyBytes, uploadSpaceExpired } from '../domain/errors.js';
import { assertTakesContent, finishUpload, receiveContent } from '../domain/receive.js';
import { blobForUploader } from './access.js';
import { recordSuccess } from './audit.js';
import { checkGetUploadStatus, checkStreamChunk, checkUploadChunk, checkUploadHeader } from './validate.js';

export function uploadRoutes(ctx: StorageContext): Partial<ServiceImpl<typeof StorageService>> {
  const answer = (row: BlobRow) => ({ blob: toBlob(row), receivedBytes: BigInt(row.received_bytes) });

  const sealedNow = (handlerCtx: HandlerContext, before: BlobRow, after: BlobRow, rpc: string) => {
    if (before.state === 'staging' && after.state === 'sealed') {
      recordSuccess(
        ctx,
        handlerCtx,
        rpc,
        after.id,
        `${after.size_bytes} bytes received, digest checked, sealed`,
      );
    }
  };

  return {
    async upload(requests, handlerCtx) {
      const messages = requests[Symbol.asyncIterator]();
      const first = await messages.next();
      if (first.done === true || first.value.part.case !== 'header') {
        throw new InvalidArgumentError([
          { field: 'header', description: 'the first message must be the header', reason: 'HEADER_FIRST' },
        ]);
      }
      const position = checkUploadHeader(first.value.part.value);
      const row = await blobForUploader(ctx, callerOf(handlerCtx), position.blobId, position.uploadToken);
      const source = new ByteSource(chunksOf(messages));
      try {
        // A stream that only reopens a finished upload (its answer was lost) is told where it stands.
        if (row.state === 'sealed' && position.offset === row.size_bytes && (await source.atEnd())) {
          source.throwIfFailed();
          return answer(row);
        }
        assertTakesContent(row, new Date());
        if (position.offset !== row.received_bytes) throw offsetMismatch(row, position.offset);
        const after = await receiveContent(ctx, row, position.offset, source);
        sealedNow(handlerCtx, row, after, 'Upload');
        return answer(after);
      } finally {
        await source.close();
      }
    },

    async uploadChunk(req, handlerCtx) {
      const input = checkUploadChunk(req);
      const row = await blobForUploader(ctx, callerOf(handlerCtx), input.blobId, input.uploadToken);
      if (row.state === 'purged') throw blobPurged(row);
      const end = input.offset + input.chunk.length;
      // A piece stored whole before (same offset, same length): a retry after a lost answer.
      if (end <= row.received_bytes) {
        const part = await partAt(ctx.db, row.id, input.offset);
        if (part !== undefined && part.plaintext_bytes === input.chunk.length) {
          const current =
            row.state === 'staging' && row.received_bytes === row.size_bytes
              ? await finishUpload(ctx, row.id)
              : row;
          sealedNow(handlerCtx, row, current, 'UploadChunk');
          return answer(current);
        }
      }
      assertTakesContent(row, new Date());
      if (input.offset !== row.received_bytes) throw offsetMismatch(row, input.offset);
      if (end > row.size_bytes) throw tooManyBytes(row, end);
      const after = await receiveContent(ctx, row, input.offset, new ByteSource(once(input.chunk)));
      sealedNow(handlerCtx, row, after, 'UploadChunk');
      return answer(after);
    },

    async getUploadStatus(req, handlerCtx) {
      const input = checkGetUploadStatus(req);
      const row = await blobForUploader(ctx, callerOf(handlerCtx), input.blobId, input.uploadToken);
      if (row.state === 'purged') throw blobPurged(row);
      if (row.state === 'staging' && row.expire_at !== null && row.expire_at <= new Date())
        throw uploadSpaceExpired(row);
      return {
        receivedBytes: BigInt(row.received_bytes),
        sizeBytes: BigInt(row.size_bytes),
        state: blobStates.toProto(row.state) ?? BlobState.UNSPECIFIED,
        ...(row.state === 'staging' && row.expire_at !== null
          ? { expireTime: timestampFromDate(row.expire_at) }
          : {}),
      };
    },
  };
}

/** The content chunks after the header; a second header or a bad chunk ends the stream with InvalidArgument. */
async function* chunksOf(messages: AsyncIterator<UploadRequest>): AsyncGenerator<Uint8Array> {
  for (let index = 0; ; index++) {
    const next = await messages.next();
    if (next.done === true) return;
    const part = next.value.part;
    if (part.case !== 'chunk') {
      throw new InvalidArgumentError([
        {
          field: `chunk[${index}]`,
          description: 'only the first message may be the header',
          reason: 'CHUNK_EXPECTED',
        },
      ]);
    }
    yield checkStreamChunk(part.value, index);
  }
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}
