/** Frozen: blobs, their parts and download grants. Change the schema in a new migration. */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  const now = sql`now()`;
  await db.schema
    .createTable('blobs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('owner_app_id', 'text', (c) => c.notNull())
    .addColumn('transfer_id', 'text', (c) => c.notNull())
    .addColumn('content_type', 'text', (c) => c.notNull())
    .addColumn('size_bytes', 'bigint', (c) => c.notNull())
    .addColumn('sha256', 'bytea', (c) => c.notNull())
    .addColumn('received_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('backend', 'text', (c) => c.notNull())
    .addColumn('wrapped_key', 'bytea')
    .addColumn('master_key_id', 'text', (c) => c.notNull())
    .addColumn('segment_bytes', 'integer', (c) => c.notNull())
    .addColumn('upload_token_sha256', 'bytea')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('expire_at', 'timestamptz')
    .addColumn('sealed_at', 'timestamptz')
    .addColumn('purged_at', 'timestamptz')
    .addColumn('purge_reason', 'text')
    .addColumn('content_deleted_at', 'timestamptz')
    .addCheckConstraint('blobs_state', sql`state in ('staging','sealed','purged')`)
    .addCheckConstraint('blobs_backend', sql`backend in ('fs','nats')`)
    .addCheckConstraint(
      'blobs_purge_reason',
      sql`purge_reason is null or purge_reason in ('delivered','expired','cancelled','failed','digest_mismatch','operator')`,
    )
    .addCheckConstraint('blobs_received', sql`received_bytes >= 0 and received_bytes <= size_bytes`)
    .execute();
  // The quota sum and the expiry sweep read only STAGING blobs.
  await db.schema
    .createIndex('blobs_staging_owner')
    .on('blobs')
    .column('owner_app_id')
    .where(sql.ref('state'), '=', 'staging')
    .execute();
  await db.schema
    .createIndex('blobs_staging_expiry')
    .on('blobs')
    .column('expire_at')
    .where(sql.ref('state'), '=', 'staging')
    .execute();
  await db.schema
    .createIndex('blobs_content_pending_delete')
    .on('blobs')
    .column('purged_at')
    .where(sql<boolean>`state = 'purged' and content_deleted_at is null`)
    .execute();
  await db.schema.createIndex('blobs_transfer').on('blobs').column('transfer_id').execute();

  await db.schema
    .createTable('blob_parts')
    .addColumn('blob_id', 'text', (c) => c.notNull().references('blobs.id').onDelete('cascade'))
    .addColumn('part_no', 'integer', (c) => c.notNull())
    .addColumn('offset_bytes', 'bigint', (c) => c.notNull())
    .addColumn('plaintext_bytes', 'integer', (c) => c.notNull())
    .addColumn('stored_bytes', 'integer', (c) => c.notNull())
    .addColumn('object_key', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addPrimaryKeyConstraint('blob_parts_pk', ['blob_id', 'part_no'])
    .addUniqueConstraint('blob_parts_offset', ['blob_id', 'offset_bytes'])
    .execute();

  await db.schema
    .createTable('download_grants')
    .addColumn('token_sha256', 'bytea', (c) => c.primaryKey())
    .addColumn('blob_id', 'text', (c) => c.notNull().references('blobs.id').onDelete('cascade'))
    .addColumn('app_id', 'text', (c) => c.notNull())
    .addColumn('expire_at', 'timestamptz', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  await db.schema
    .createIndex('download_grants_blob')
    .on('download_grants')
    .columns(['blob_id', 'app_id'])
    .execute();
  await db.schema.createIndex('download_grants_expiry').on('download_grants').column('expire_at').execute();
}
