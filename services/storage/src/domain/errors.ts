/** The refusals of the storage service, named once so every RPC words them alike. */
import { DataLossError, FailedPreconditionError, NotFoundError, OutOfRangeError } from '#lib/errors.js';
import type { BlobRow } from '../db/rows.js';

export const blobNotFound = (id: string) =>
  new NotFoundError('BLOB_NOT_FOUND', `no blob ${id}`, { blob_id: id });

export const blobPurged = (row: BlobRow) =>
  new FailedPreconditionError(
    'BLOB_PURGED',
    `the content of blob ${row.id} was deleted (${row.purge_reason ?? 'purged'}); its tokens no longer work`,
    { blob_id: row.id, purge_reason: (row.purge_reason ?? '').toUpperCase() },
  );

export const blobSealed = (row: BlobRow) =>
  new FailedPreconditionError('BLOB_SEALED', `blob ${row.id} is sealed: it takes no more content`, {
    blob_id: row.id,
  });

export const blobNotSealed = (row: BlobRow) =>
  new FailedPreconditionError(
    'BLOB_NOT_SEALED',
    `blob ${row.id} is still being uploaded: it cannot be read yet`,
    {
      blob_id: row.id,
      received_bytes: String(row.received_bytes),
      size_bytes: String(row.size_bytes),
    },
  );

export const uploadSpaceExpired = (row: BlobRow) =>
  new FailedPreconditionError(
    'UPLOAD_SPACE_EXPIRED',
    `the upload space of blob ${row.id} expired at ${row.expire_at?.toISOString()}; ask for a new transfer space`,
    { blob_id: row.id, expire_time: row.expire_at?.toISOString() ?? '' },
  );

export const offsetMismatch = (row: BlobRow, offset: number) =>
  new FailedPreconditionError(
    'OFFSET_MISMATCH',
    `blob ${row.id} has ${row.received_bytes} bytes; the next piece must start there, not at ${offset}`,
    { blob_id: row.id, expected_offset: String(row.received_bytes), offset: String(offset) },
  );

export const tooManyBytes = (row: BlobRow, upTo: number) =>
  new OutOfRangeError(
    'SIZE_EXCEEDED',
    `blob ${row.id} was declared with ${row.size_bytes} bytes; the content goes on past that (to byte ${upTo} at least)`,
    { blob_id: row.id, size_bytes: String(row.size_bytes) },
  );

/** `blobId` empty: the content was refused before a blob existed (PutBlob). */
export const digestMismatch = (blobId: string) =>
  new DataLossError(
    'DIGEST_MISMATCH',
    blobId === ''
      ? 'the content does not match its declared SHA-256; nothing was stored'
      : `the content of blob ${blobId} does not match its declared SHA-256; the uploaded bytes were dropped`,
    blobId === '' ? {} : { blob_id: blobId },
  );

/**
 * A blob of another app is answered as if it did not exist, so that blob ids
 * cannot be probed; the refusal is still audited with this reason's message.
 */
const notYours = (id: string, message: string) =>
  new NotFoundError('BLOB_NOT_FOUND', message, { blob_id: id });

export const uploadTokenInvalid = (id: string) => notYours(id, `no blob ${id} for this upload token`);

export const downloadTokenInvalid = (id: string) => notYours(id, `no blob ${id} for this download token`);

export const notBlobOwner = (id: string, appId: string) =>
  notYours(id, `no blob ${id} uploaded by ${appId || 'the caller'}`);

export const downloadTokenNotYours = (id: string, appId: string) =>
  notYours(id, `no blob ${id} granted to ${appId || 'the caller'}`);

export const downloadSpaceExpired = (id: string, at: Date) =>
  new FailedPreconditionError(
    'DOWNLOAD_SPACE_EXPIRED',
    `the download token of blob ${id} expired at ${at.toISOString()}`,
    {
      blob_id: id,
      expire_time: at.toISOString(),
    },
  );

export const blobAccessDenied = (id: string) =>
  notYours(id, `no blob ${id} that the caller holds a token for`);

export const contentKeyUnreadable = (id: string) =>
  new DataLossError('DATA_KEY_UNREADABLE', `the data key of blob ${id} does not open under the master key`, {
    blob_id: id,
  });

export const contentGap = (id: string, at: number) =>
  new DataLossError('CONTENT_DAMAGED', `stored content of blob ${id} has no part holding byte ${at}`, {
    blob_id: id,
    offset: String(at),
  });
