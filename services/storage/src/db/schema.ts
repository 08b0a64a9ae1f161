/** Tables of the storage service's schema, one type per table. */
import type { ColumnType } from 'kysely';
import type { OutboxTable } from '#lib/db/outbox.js';
import type { BlobBackendName } from '../blobs/port.js';

export type BlobStateName = 'staging' | 'sealed' | 'purged';
export type PurgeReasonName =
  | 'delivered'
  | 'expired'
  | 'cancelled'
  | 'failed'
  | 'digest_mismatch'
  | 'operator';

/** A blob's metadata; its content is in the adapter, as the parts in `blob_parts`. */
export interface BlobTable {
  id: string;
  state: BlobStateName;
  owner_app_id: string;
  transfer_id: string;
  content_type: string;
  size_bytes: number;
  /** Declared SHA-256 of the content. */
  sha256: Uint8Array;
  /** Sum of the recorded parts' plaintext: the offset to resume from. */
  received_bytes: number;
  /** The adapter the content was written to. */
  backend: BlobBackendName;
  /** The blob's data key, sealed under the master key; null once purged (crypto-shredding). */
  wrapped_key: Uint8Array | null;
  master_key_id: string;
  /** Plaintext bytes per sealed segment. */
  segment_bytes: number;
  /** SHA-256 of the upload token; null once the blob leaves STAGING. */
  upload_token_sha256: Uint8Array | null;
  created_at: ColumnType<Date, Date | undefined, never>;
  /** When a STAGING blob is purged if not sealed; null once sealed. */
  expire_at: Date | null;
  sealed_at: Date | null;
  purged_at: Date | null;
  purge_reason: PurgeReasonName | null;
  /** When every stored object of a purged blob was confirmed deleted; null while some may remain. */
  content_deleted_at: Date | null;
}

/** One part of a blob's content: one adapter object, recorded once the adapter said it is durable. */
export interface BlobPartTable {
  blob_id: string;
  part_no: number;
  offset_bytes: number;
  plaintext_bytes: number;
  stored_bytes: number;
  object_key: string;
  created_at: ColumnType<Date, Date | undefined, never>;
}

/** A download token (only its SHA-256), bound to one blob and one destination app. */
export interface DownloadGrantTable {
  token_sha256: Uint8Array;
  blob_id: string;
  app_id: string;
  expire_at: Date;
  created_at: ColumnType<Date, Date | undefined, never>;
}

export interface StorageDatabase {
  outbox: OutboxTable;
  blobs: BlobTable;
  blob_parts: BlobPartTable;
  download_grants: DownloadGrantTable;
}
