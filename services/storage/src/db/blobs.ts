/** Queries on blobs, their parts and download grants. Functions take `db` or a transaction first. */
import { randomBytes } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { BlobPartRow, BlobRow, DownloadGrantRow } from './rows.js';
import type { BlobTable, StorageDatabase } from './schema.js';

type Db = Kysely<StorageDatabase>;

/** `blb_` and 16 hex digits, like every id of the platform. */
export function newBlobId(): string {
  return `blb_${randomBytes(8).toString('hex')}`;
}

export const BLOB_ID = /^blb_[0-9a-f]{16}$/;

export async function findBlob(db: Db, id: string): Promise<BlobRow | undefined> {
  return db.selectFrom('blobs').selectAll().where('id', '=', id).executeTakeFirst();
}

/** The blob, locked until the transaction ends: every change of state or of received bytes goes through it. */
export async function lockBlob(trx: Db, id: string): Promise<BlobRow | undefined> {
  return trx.selectFrom('blobs').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export type NewBlob = Omit<
  BlobTable,
  'created_at' | 'received_bytes' | 'sealed_at' | 'purged_at' | 'purge_reason' | 'content_deleted_at'
>;

export async function insertBlob(trx: Db, values: NewBlob): Promise<BlobRow> {
  return trx
    .insertInto('blobs')
    .values({
      ...values,
      received_bytes: 0,
      sealed_at: null,
      purged_at: null,
      purge_reason: null,
      content_deleted_at: null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export type BlobChanges = Partial<Omit<BlobTable, 'id' | 'created_at'>>;

export async function updateBlob(trx: Db, id: string, changes: BlobChanges): Promise<BlobRow> {
  return trx.updateTable('blobs').set(changes).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
}

/**
 * Serializes the reservations of one app, so that two at once cannot both
 * pass the quota check; released when the transaction ends.
 */
export async function lockAppQuota(trx: Db, appId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${`lgsp.storage.quota:${appId}`}, 0))`.execute(trx);
}

/** Bytes the app holds reserved in STAGING blobs that have not expired. */
export async function stagingBytesOf(trx: Db, appId: string, now: Date): Promise<number> {
  const row = await trx
    .selectFrom('blobs')
    .select(sql<string | null>`sum(size_bytes)`.as('total'))
    .where('owner_app_id', '=', appId)
    .where('state', '=', 'staging')
    .where('expire_at', '>', now)
    .executeTakeFirst();
  return Number(row?.total ?? 0);
}

export async function listParts(db: Db, blobId: string): Promise<BlobPartRow[]> {
  return db.selectFrom('blob_parts').selectAll().where('blob_id', '=', blobId).orderBy('part_no').execute();
}

/** The parts holding bytes of `[from, to)`, in order. */
export async function partsCovering(
  db: Db,
  blobId: string,
  from: number,
  to: number,
): Promise<BlobPartRow[]> {
  return db
    .selectFrom('blob_parts')
    .selectAll()
    .where('blob_id', '=', blobId)
    .where('offset_bytes', '<', to)
    .where(sql<boolean>`offset_bytes + plaintext_bytes > ${from}`)
    .orderBy('part_no')
    .execute();
}

export async function partAt(db: Db, blobId: string, offset: number): Promise<BlobPartRow | undefined> {
  return db
    .selectFrom('blob_parts')
    .selectAll()
    .where('blob_id', '=', blobId)
    .where('offset_bytes', '=', offset)
    .executeTakeFirst();
}

export async function countParts(db: Db, blobId: string): Promise<number> {
  const row = await db
    .selectFrom('blob_parts')
    .select(sql<string>`count(*)`.as('n'))
    .where('blob_id', '=', blobId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function insertPart(trx: Db, part: Omit<BlobPartRow, 'created_at'>): Promise<void> {
  await trx.insertInto('blob_parts').values(part).execute();
}

export async function deleteParts(trx: Db, blobId: string): Promise<void> {
  await trx.deleteFrom('blob_parts').where('blob_id', '=', blobId).execute();
}

export async function insertGrant(
  trx: Db,
  grant: Omit<DownloadGrantRow, 'created_at'>,
): Promise<DownloadGrantRow> {
  return trx.insertInto('download_grants').values(grant).returningAll().executeTakeFirstOrThrow();
}

export async function findGrant(db: Db, tokenSha256: Uint8Array): Promise<DownloadGrantRow | undefined> {
  return db
    .selectFrom('download_grants')
    .selectAll()
    .where('token_sha256', '=', tokenSha256)
    .executeTakeFirst();
}

/** True when `appId` holds a download grant for the blob that has not expired. */
export async function hasLiveGrant(db: Db, blobId: string, appId: string, now: Date): Promise<boolean> {
  const row = await db
    .selectFrom('download_grants')
    .select('blob_id')
    .where('blob_id', '=', blobId)
    .where('app_id', '=', appId)
    .where('expire_at', '>', now)
    .executeTakeFirst();
  return row !== undefined;
}

export async function deleteExpiredGrants(db: Db, before: Date): Promise<number> {
  const result = await db.deleteFrom('download_grants').where('expire_at', '<', before).executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** STAGING blobs past their expiry, claimed for this transaction; other replicas skip them. */
export async function claimExpiredStaging(trx: Db, now: Date, limit: number): Promise<BlobRow[]> {
  return trx
    .selectFrom('blobs')
    .selectAll()
    .where('state', '=', 'staging')
    .where('expire_at', '<=', now)
    .orderBy('expire_at')
    .limit(limit)
    .forUpdate()
    .skipLocked()
    .execute();
}

/** STAGING blobs holding every byte but not sealed yet (a crash between the last part and the seal). */
export async function claimUnfinished(trx: Db, olderThan: Date, limit: number): Promise<BlobRow[]> {
  return trx
    .selectFrom('blobs')
    .selectAll()
    .where('state', '=', 'staging')
    .where(sql<boolean>`received_bytes = size_bytes`)
    .where('created_at', '<', olderThan)
    .limit(limit)
    .forUpdate()
    .skipLocked()
    .execute();
}

/** PURGED blobs whose stored objects may not all be deleted yet. */
export async function claimContentToDelete(trx: Db, limit: number): Promise<BlobRow[]> {
  return trx
    .selectFrom('blobs')
    .selectAll()
    .where('state', '=', 'purged')
    .where('content_deleted_at', 'is', null)
    .orderBy('purged_at')
    .limit(limit)
    .forUpdate()
    .skipLocked()
    .execute();
}
