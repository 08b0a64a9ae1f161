/** A new STAGING blob: id, data key wrapped under the master key, upload token. */
import type { Kysely } from 'kysely';
import type { StorageContext } from '../context.js';
import { wrapDataKey } from '../crypto/data-keys.js';
import { newDataKey, SEGMENT_PLAINTEXT_BYTES } from '../crypto/segments.js';
import { insertBlob, newBlobId } from '../db/blobs.js';
import type { BlobRow } from '../db/rows.js';
import type { StorageDatabase } from '../db/schema.js';
import { newToken } from './tokens.js';

export interface NewBlobInput {
  readonly ownerAppId: string;
  readonly transferId: string;
  readonly contentType: string;
  readonly sizeBytes: number;
  readonly sha256: Uint8Array;
  readonly ttlSeconds: number;
}

/** Inserts the blob in the caller's transaction; the upload token is returned once, only its digest is kept. */
export async function createStagingBlob(
  ctx: StorageContext,
  trx: Kysely<StorageDatabase>,
  input: NewBlobInput,
  now = new Date(),
): Promise<{ row: BlobRow; uploadToken: string }> {
  const id = newBlobId();
  const { token, sha256: tokenSha256 } = newToken();
  const row = await insertBlob(trx, {
    id,
    state: 'staging',
    owner_app_id: input.ownerAppId,
    transfer_id: input.transferId,
    content_type: input.contentType,
    size_bytes: input.sizeBytes,
    sha256: input.sha256,
    backend: ctx.blobs.backend,
    wrapped_key: wrapDataKey(ctx.secretBox, id, newDataKey()),
    master_key_id: ctx.masterKeyId,
    segment_bytes: SEGMENT_PLAINTEXT_BYTES,
    upload_token_sha256: tokenSha256,
    expire_at: new Date(now.getTime() + input.ttlSeconds * 1000),
  });
  return { row, uploadToken: token };
}
