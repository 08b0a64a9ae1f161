/** Conversions between rows and API messages, and between stored and API enum names. */
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import {
  type Blob,
  BlobSchema,
  BlobState,
  EncryptionSchema,
  PurgeReason,
  StorageBackend,
} from '#gen/lgsp/storage/v1/resources_pb.js';
import { enumMap } from '#lib/db/enum-map.js';
import type { BlobBackendName } from '../blobs/port.js';
import type {
  BlobPartTable,
  BlobStateName,
  BlobTable,
  DownloadGrantTable,
  PurgeReasonName,
} from './schema.js';

type Row<T> = {
  [K in keyof T]: T[K] extends import('kysely').ColumnType<infer S, unknown, unknown> ? S : T[K];
};

export type BlobRow = Row<BlobTable>;
export type BlobPartRow = Row<BlobPartTable>;
export type DownloadGrantRow = Row<DownloadGrantTable>;

export const blobStates = enumMap<BlobStateName, BlobState>({
  staging: BlobState.STAGING,
  sealed: BlobState.SEALED,
  purged: BlobState.PURGED,
});

export const purgeReasons = enumMap<PurgeReasonName, PurgeReason>({
  delivered: PurgeReason.DELIVERED,
  expired: PurgeReason.EXPIRED,
  cancelled: PurgeReason.CANCELLED,
  failed: PurgeReason.FAILED,
  digest_mismatch: PurgeReason.DIGEST_MISMATCH,
  operator: PurgeReason.OPERATOR,
});

export const backends = enumMap<BlobBackendName, StorageBackend>({
  fs: StorageBackend.LOCAL_FS,
  nats: StorageBackend.NATS_OBJECT_STORE,
});

export function toBlob(row: BlobRow): Blob {
  return create(BlobSchema, {
    id: row.id,
    state: blobStates.toProto(row.state),
    ownerAppId: row.owner_app_id,
    transferId: row.transfer_id,
    contentType: row.content_type,
    sizeBytes: BigInt(row.size_bytes),
    sha256: row.sha256,
    receivedBytes: BigInt(row.received_bytes),
    backend: backends.toProto(row.backend),
    encryption: create(EncryptionSchema, {
      algorithm: 'AES-256-GCM',
      masterKeyId: row.master_key_id,
      chunkSizeBytes: row.segment_bytes,
    }),
    createTime: timestampFromDate(row.created_at),
    ...(row.expire_at === null || row.state !== 'staging'
      ? {}
      : { expireTime: timestampFromDate(row.expire_at) }),
    ...(row.sealed_at === null ? {} : { sealTime: timestampFromDate(row.sealed_at) }),
    ...(row.purged_at === null ? {} : { purgeTime: timestampFromDate(row.purged_at) }),
    ...(row.purge_reason === null ? {} : { purgeReason: purgeReasons.toProto(row.purge_reason) }),
  });
}
