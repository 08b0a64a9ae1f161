/** Frozen: notices and the per-app counters of their sequences. Change the schema in a new migration. */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('notices')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('app_id', 'text', (c) => c.notNull())
    .addColumn('sequence', 'bigint', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('priority', 'smallint', (c) => c.notNull().defaultTo(0))
    .addColumn('payload', 'bytea', (c) => c.notNull())
    .addColumn('dedup_key', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expire_at', 'timestamptz', (c) => c.notNull())
    .addColumn('acked_at', 'timestamptz')
    .addUniqueConstraint('notices_app_sequence', ['app_id', 'sequence'])
    // A redelivered event finds its notice here and creates no second one.
    .addUniqueConstraint('notices_app_dedup', ['app_id', 'dedup_key'])
    .addCheckConstraint('notices_sequence', sql`sequence >= 1`)
    .addCheckConstraint(
      'notices_kind',
      sql`kind in ('new_delivery','transfer_status','destination_offline','credential_expiring','app_message')`,
    )
    .addCheckConstraint('notices_priority', sql`priority between 0 and 4`)
    .execute();
  // Replay, polling and the unacknowledged count read only what waits.
  await db.schema
    .createIndex('notices_unacked')
    .on('notices')
    .columns(['app_id', 'sequence'])
    .where(sql.ref('acked_at'), 'is', null)
    .execute();
  await db.schema.createIndex('notices_expiry').on('notices').column('expire_at').execute();

  await db.schema
    .createTable('notice_counters')
    .addColumn('app_id', 'text', (c) => c.primaryKey())
    .addColumn('last_sequence', 'bigint', (c) => c.notNull())
    .addCheckConstraint('notice_counters_last_sequence', sql`last_sequence >= 0`)
    .execute();
}
