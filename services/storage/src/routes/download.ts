/** Handlers of the reader's RPCs: GrantDownload (internal), Download (server stream), DownloadChunk (unary). */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import type {
  DownloadRequest,
  DownloadResponseSchema,
  StorageService,
} from '#gen/lgsp/storage/v1/storage_service_pb.js';
import { DataLossError, OutOfRangeError } from '#lib/errors.js';
import { callerOf } from '#lib/rpc/caller.js';
import { CHUNK_MAX_BYTES } from '../config.js';
import type { StorageContext } from '../context.js';
import { findBlob, insertGrant } from '../db/blobs.js';
import { type BlobRow, toBlob } from '../db/rows.js';
import { readContent } from '../domain/content.js';
import { blobNotFound, blobNotSealed, blobPurged } from '../domain/errors.js';
import { newToken } from '../domain/tokens.js';
import { blobForReader } from './access.js';
import { recordSuccess } from './audit.js';
import { checkDownload, checkDownloadChunk, checkGrantDownload } from './validate.js';

export function downloadRoutes(ctx: StorageContext): Partial<ServiceImpl<typeof StorageService>> {
  async function* streamContent(
    req: DownloadRequest,
    handlerCtx: HandlerContext,
  ): AsyncGenerator<DownloadResponseInit> {
    const input = checkDownload(req);
    const row = await blobForReader(ctx, callerOf(handlerCtx), input.blobId, input.downloadToken);
    const to = rangeEnd(row, input.offset, input.limit);
    yield {
      part: {
        case: 'header',
        value: {
          sizeBytes: BigInt(row.size_bytes),
          sha256: row.sha256,
          contentType: row.content_type,
          offset: BigInt(input.offset),
        },
      },
    };
    // A read of the whole content is also checked against the declared digest, end to end.
    const whole = input.offset === 0 && to === row.size_bytes;
    const hash = whole ? createHash('sha256') : undefined;
    const batch = new Batch(CHUNK_MAX_BYTES);
    for await (const piece of readContent(ctx, row, input.offset, to)) {
      hash?.update(piece);
      const full = batch.add(piece);
      if (full !== undefined) yield { part: { case: 'chunk', value: full } };
    }
    const rest = batch.drain();
    if (rest !== undefined) yield { part: { case: 'chunk', value: rest } };
    if (hash !== undefined && !timingSafeEqual(hash.digest(), row.sha256)) throw contentDigestMismatch(row);
    if (to === row.size_bytes)
      recordSuccess(ctx, handlerCtx, 'Download', row.id, `bytes ${input.offset}..${to} sent`);
  }

  return {
    async grantDownload(req, handlerCtx) {
      const input = checkGrantDownload(req);
      const row = await findBlob(ctx.db, input.blobId);
      if (row === undefined) throw blobNotFound(input.blobId);
      if (row.state === 'purged') throw blobPurged(row);
      if (row.state === 'staging') throw blobNotSealed(row);
      const { token, sha256 } = newToken();
      const grant = await insertGrant(ctx.db, {
        token_sha256: sha256,
        blob_id: row.id,
        app_id: input.appId,
        expire_at: new Date(Date.now() + input.ttlSeconds * 1000),
      });
      recordSuccess(ctx, handlerCtx, 'GrantDownload', row.id, `download granted to app ${input.appId}`);
      return { downloadToken: token, expireTime: timestampFromDate(grant.expire_at), blob: toBlob(row) };
    },

    download(req, handlerCtx) {
      return streamContent(req, handlerCtx);
    },

    async downloadChunk(req, handlerCtx) {
      const input = checkDownloadChunk(req);
      const row = await blobForReader(ctx, callerOf(handlerCtx), input.blobId, input.downloadToken);
      const to = rangeEnd(row, input.offset, input.limit);
      const pieces: Buffer[] = [];
      for await (const piece of readContent(ctx, row, input.offset, to)) pieces.push(piece);
      const eof = to === row.size_bytes;
      if (eof)
        recordSuccess(
          ctx,
          handlerCtx,
          'DownloadChunk',
          row.id,
          `bytes ${input.offset}..${to} sent, the last piece`,
        );
      return {
        chunk: Buffer.concat(pieces),
        offset: BigInt(input.offset),
        sizeBytes: BigInt(row.size_bytes),
        sha256: row.sha256,
        eof,
      };
    },
  };
}

type DownloadResponseInit = MessageInitShape<typeof DownloadResponseSchema>;

/** Where a read from `offset` of at most `limit` bytes (0: to the end) stops; refuses an offset past the end. */
function rangeEnd(row: BlobRow, offset: number, limit: number): number {
  if (offset > row.size_bytes) {
    throw new OutOfRangeError(
      'OFFSET_PAST_END',
      `blob ${row.id} has ${row.size_bytes} bytes; offset ${offset} is past its end`,
      {
        blob_id: row.id,
        size_bytes: String(row.size_bytes),
      },
    );
  }
  return limit === 0 ? row.size_bytes : Math.min(row.size_bytes, offset + limit);
}

function contentDigestMismatch(row: BlobRow): DataLossError {
  return new DataLossError(
    'STORED_DIGEST_MISMATCH',
    `the stored content of blob ${row.id} no longer matches its SHA-256`,
    {
      blob_id: row.id,
    },
  );
}

/** Joins the plaintext pieces (a segment or less each) into messages of at most `max` bytes. */
class Batch {
  #pieces: Buffer[] = [];
  #bytes = 0;
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  /** Adds a piece; returns a full message when the piece would not fit in the current one. */
  add(piece: Buffer): Buffer | undefined {
    const out = this.#bytes + piece.length > this.#max ? this.drain() : undefined;
    this.#pieces.push(piece);
    this.#bytes += piece.length;
    return out;
  }

  drain(): Buffer | undefined {
    if (this.#bytes === 0) return undefined;
    const joined = Buffer.concat(this.#pieces, this.#bytes);
    this.#pieces = [];
    this.#bytes = 0;
    return joined;
  }
}
