/** Frozen: transfers, deliveries and their status history. Change the schema in a new migration. */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  const now = sql`now()`;
  await db.schema
    .createTable('transfers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('source_app_id', 'text', (c) => c.notNull())
    .addColumn('source_unit_code', 'text', (c) => c.notNull())
    .addColumn('recipients', 'jsonb', (c) => c.notNull())
    .addColumn('routes', 'jsonb', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('priority', 'smallint', (c) => c.notNull())
    .addColumn('content_type', 'text', (c) => c.notNull())
    .addColumn('protocol', 'text', (c) => c.notNull())
    .addColumn('size_bytes', 'bigint', (c) => c.notNull())
    .addColumn('sha256', 'bytea', (c) => c.notNull())
    .addColumn('idempotency_key', 'text')
    .addColumn('request_digest', 'text', (c) => c.notNull())
    .addColumn('policy', 'jsonb', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('blob_id', 'text', (c) => c.notNull())
    .addColumn('inline', 'boolean', (c) => c.notNull())
    .addColumn('content_metadata', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('delivery_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('delivered_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('state_reason', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('upload_expires_at', 'timestamptz')
    .addColumn('deadline', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('committed_at', 'timestamptz')
    .addColumn('finished_at', 'timestamptz')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('purge_due', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('purged_at', 'timestamptz')
    .addCheckConstraint('transfers_priority', sql`priority between 1 and 4`)
    .addCheckConstraint('transfers_protocol', sql`protocol in ('edxml','edxml_status','plain_data')`)
    .addCheckConstraint(
      'transfers_state',
      sql`state in ('requested','uploading','committed','delivering','delivered','partially_delivered','refused','expired','cancelled','failed')`,
    )
    .execute();
  await db.schema
    .createIndex('transfers_idempotency')
    .on('transfers')
    .columns(['source_app_id', 'idempotency_key'])
    .unique()
    .where(sql.ref('idempotency_key'), 'is not', null)
    .execute();
  await db.schema
    .createIndex('transfers_source')
    .on('transfers')
    .columns(['source_app_id', 'created_at'])
    .execute();
  await db.schema
    .createIndex('transfers_upload_expiry')
    .on('transfers')
    .column('upload_expires_at')
    .where(sql.ref('state'), 'in', sql`('requested','uploading')`)
    .execute();
  await db.schema
    .createIndex('transfers_purge_due')
    .on('transfers')
    .column('finished_at')
    .where(sql.ref('purge_due'), '=', true)
    .execute();

  await db.schema
    .createTable('deliveries')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('transfer_id', 'text', (c) => c.notNull().references('transfers.id'))
    .addColumn('recipient', 'jsonb', (c) => c.notNull())
    .addColumn('destination_app_id', 'text', (c) => c.notNull())
    .addColumn('destination_unit_code', 'text', (c) => c.notNull())
    .addColumn('priority', 'smallint', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('edxml_status', 'smallint', (c) => c.notNull().defaultTo(0))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'timestamptz')
    .addColumn('deadline', 'timestamptz', (c) => c.notNull())
    .addColumn('refusal_reason', 'smallint', (c) => c.notNull().defaultTo(0))
    .addColumn('state_reason', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('receipt_ref', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('notified_at', 'timestamptz')
    .addColumn('accepted_at', 'timestamptz')
    .addColumn('finished_at', 'timestamptz')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addCheckConstraint(
      'deliveries_state',
      sql`state in ('pending','notified','accepted','delivered','refused','expired','cancelled','failed')`,
    )
    .addUniqueConstraint('deliveries_one_per_app', ['transfer_id', 'destination_app_id'])
    .execute();
  await db.schema
    .createIndex('deliveries_destination')
    .on('deliveries')
    .columns(['destination_app_id', 'state', 'priority', 'created_at'])
    .execute();
  // The dispatcher takes due offers highest priority first, then oldest first.
  await db.schema
    .createIndex('deliveries_due')
    .on('deliveries')
    .expression(sql`priority desc, created_at`)
    .where(sql.ref('state'), 'in', sql`('pending','notified')`)
    .execute();
  await db.schema
    .createIndex('deliveries_deadline')
    .on('deliveries')
    .column('deadline')
    .where(sql.ref('state'), 'in', sql`('pending','notified','accepted')`)
    .execute();

  await db.schema
    .createTable('status_changes')
    .addColumn('seq', 'bigserial', (c) => c.primaryKey())
    .addColumn('source_app_id', 'text', (c) => c.notNull())
    .addColumn('transfer_id', 'text', (c) => c.notNull().references('transfers.id'))
    .addColumn('delivery_id', 'text', (c) => c.references('deliveries.id'))
    .addColumn('transfer_state', 'text', (c) => c.notNull())
    .addColumn('delivery_state', 'text')
    .addColumn('edxml_status', 'smallint', (c) => c.notNull().defaultTo(0))
    .addColumn('destination_app_id', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('destination_unit_code', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('occurred_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  await db.schema
    .createIndex('status_changes_source')
    .on('status_changes')
    .columns(['source_app_id', 'seq'])
    .execute();
  await db.schema
    .createIndex('status_changes_transfer')
    .on('status_changes')
    .columns(['transfer_id', 'seq'])
    .execute();
}
