/** Frozen: webhooks, the notices waiting for them and every attempt made. Change the schema in a new migration. */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('webhooks')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('app_id', 'text', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    // Notice kinds posted; empty for all.
    .addColumn('kinds', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('state', 'text', (c) => c.notNull())
    // The signing secret, sealed under the master key with the webhook id as context.
    .addColumn('secret_sealed', 'bytea', (c) => c.notNull())
    .addColumn('consecutive_failures', 'integer', (c) => c.notNull().defaultTo(0))
    // Since when every call has failed; the webhook is disabled when this is too long ago.
    .addColumn('failing_since', 'timestamptz')
    .addColumn('last_success_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('webhooks_state', sql`state in ('active','paused','disabled')`)
    .execute();
  await db.schema.createIndex('webhooks_app').on('webhooks').column('app_id').execute();

  await db.schema
    .createTable('webhook_deliveries')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('webhook_id', 'text', (c) => c.notNull().references('webhooks.id').onDelete('cascade'))
    // No foreign key: the notice sweep deletes expired notices, and the delivery then parks.
    .addColumn('notice_id', 'text', (c) => c.notNull())
    .addColumn('notice_kind', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull().defaultTo('pending'))
    // Calls made for this notice.
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    // When a replica may take it; while one posts, pushed past the call's timeout.
    .addColumn('next_attempt_at', 'timestamptz', (c) => c.notNull())
    .addColumn('parked_reason', 'text')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('webhook_deliveries_notice', ['webhook_id', 'notice_id'])
    .addCheckConstraint('webhook_deliveries_state', sql`state in ('pending','succeeded','parked','skipped')`)
    .execute();
  await db.schema
    .createIndex('webhook_deliveries_due')
    .on('webhook_deliveries')
    .columns(['next_attempt_at', 'id'])
    .where(sql.ref('state'), '=', 'pending')
    .execute();

  await db.schema
    .createTable('webhook_attempts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('webhook_id', 'text', (c) => c.notNull().references('webhooks.id').onDelete('cascade'))
    .addColumn('notice_id', 'text', (c) => c.notNull())
    .addColumn('notice_kind', 'text', (c) => c.notNull())
    .addColumn('attempt', 'integer', (c) => c.notNull())
    .addColumn('attempted_at', 'timestamptz', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('http_status', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('error', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('latency_ms', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'timestamptz')
    .addColumn('parked_reason', 'text')
    .addCheckConstraint('webhook_attempts_outcome', sql`outcome in ('succeeded','retrying','parked')`)
    .execute();
  await db.schema
    .createIndex('webhook_attempts_webhook')
    .on('webhook_attempts')
    .columns(['webhook_id', 'attempted_at'])
    .execute();
}
