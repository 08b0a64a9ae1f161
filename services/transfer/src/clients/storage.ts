/**
 * What the transfer service asks the storage service: transfer spaces
 * (staging blobs with upload tokens, download tokens), small content in one
 * call, reading content for analysis and inline offers, and purging content
 * once a transfer is final (Art. 5.3). Storage errors reach the caller as the
 * storage service raised them (code, reason and details).
 */
import { create } from '@bufbuild/protobuf';
import { type Duration, DurationSchema, type Timestamp, timestampDate } from '@bufbuild/protobuf/wkt';
import type { Blob, PurgeReason } from '#gen/lgsp/storage/v1/resources_pb.js';
import { StorageService } from '#gen/lgsp/storage/v1/storage_service_pb.js';
import { internalClient } from '#lib/rpc/internal-client.js';

export interface StagingSpace {
  readonly blob: Blob;
  readonly uploadToken: string;
  readonly expireTime: Date;
}

export interface DownloadGrant {
  readonly blob: Blob;
  readonly downloadToken: string;
  readonly expireTime: Date;
}

export interface ReserveInput {
  readonly transferId: string;
  readonly ownerAppId: string;
  readonly contentType: string;
  readonly sizeBytes: bigint;
  readonly sha256: Uint8Array;
  readonly ttlSeconds: number;
}

export interface StoragePort {
  reserve(input: ReserveInput): Promise<StagingSpace>;
  renewUpload(blobId: string, ttlSeconds: number): Promise<StagingSpace>;
  putSmall(input: Omit<ReserveInput, 'sizeBytes' | 'ttlSeconds'> & { content: Uint8Array }): Promise<Blob>;
  stat(blobId: string): Promise<Blob>;
  grantDownload(blobId: string, appId: string, ttlSeconds: number): Promise<DownloadGrant>;
  /** The content from the start, at most `limit` bytes, as it streams. */
  read(blobId: string, limit: number): AsyncIterable<Uint8Array>;
  purge(blobId: string, reason: PurgeReason): Promise<void>;
  close(): void;
}

const seconds = (s: number): Duration => create(DurationSchema, { seconds: BigInt(s) });
const dateOf = (t: Timestamp | undefined): Date => (t === undefined ? new Date(0) : timestampDate(t));

export function connectStorage(address: string): StoragePort {
  const { client, options, close } = internalClient(StorageService, address, 'service:transfer');
  const staging = (res: {
    blob?: Blob | undefined;
    uploadToken: string;
    tokenExpireTime?: Timestamp | undefined;
  }): StagingSpace => ({
    blob: res.blob!,
    uploadToken: res.uploadToken,
    expireTime: dateOf(res.tokenExpireTime),
  });
  return {
    async reserve(input) {
      const res = await client.reserveBlob(
        {
          transferId: input.transferId,
          ownerAppId: input.ownerAppId,
          contentType: input.contentType,
          sizeBytes: input.sizeBytes,
          sha256: input.sha256,
          ttl: seconds(input.ttlSeconds),
        },
        options(),
      );
      return staging(res);
    },
    async renewUpload(blobId, ttlSeconds) {
      return staging(await client.renewUploadToken({ blobId, ttl: seconds(ttlSeconds) }, options()));
    },
    async putSmall(input) {
      const res = await client.putBlob(
        {
          transferId: input.transferId,
          ownerAppId: input.ownerAppId,
          contentType: input.contentType,
          content: input.content,
          sha256: input.sha256,
        },
        options(30_000),
      );
      return res.blob!;
    },
    async stat(blobId) {
      return (await client.stat({ blobId }, options())).blob!;
    },
    async grantDownload(blobId, appId, ttlSeconds) {
      const res = await client.grantDownload({ blobId, appId, ttl: seconds(ttlSeconds) }, options());
      return { blob: res.blob!, downloadToken: res.downloadToken, expireTime: dateOf(res.expireTime) };
    },
    async *read(blobId, limit) {
      for await (const message of client.download(
        { blobId, offset: 0n, limit: BigInt(limit) },
        options(60_000),
      )) {
        if (message.part.case === 'chunk') yield message.part.value;
      }
    },
    async purge(blobId, reason) {
      await client.purge({ blobId, reason }, options());
    },
    close,
  };
}
