/**
 * Storage events, written to the outbox in the transaction of the change they
 * announce, on `<prefix>.storage.blob.<receiving|sealed|purged>` (stream
 * `<prefix>_STORAGE`). The payload is the blob's metadata
 * (`lgsp.storage.v1.Blob`, binary): the transfer service shows a transfer as
 * UPLOADING once its first bytes are received.
 */
import { toBinary } from '@bufbuild/protobuf';
import type { Kysely } from 'kysely';
import { BlobSchema } from '#gen/lgsp/storage/v1/resources_pb.js';
import { enqueueEvent } from '#lib/db/outbox.js';
import { subjectOf } from '#lib/infra.js';
import { type BlobRow, toBlob } from './rows.js';
import type { StorageDatabase } from './schema.js';

export const storageSubjects = (prefix: string) => ({
  receiving: subjectOf(prefix, 'storage', 'blob', 'receiving'),
  sealed: subjectOf(prefix, 'storage', 'blob', 'sealed'),
  purged: subjectOf(prefix, 'storage', 'blob', 'purged'),
  all: subjectOf(prefix, 'storage', '>'),
});

export async function emitBlobEvent(
  trx: Kysely<StorageDatabase>,
  prefix: string,
  kind: 'receiving' | 'sealed' | 'purged',
  row: BlobRow,
): Promise<void> {
  await enqueueEvent(trx, {
    subject: storageSubjects(prefix)[kind],
    payload: toBinary(BlobSchema, toBlob(row)),
    headers: { 'lgsp-blob-id': row.id, 'lgsp-transfer-id': row.transfer_id },
  });
}
