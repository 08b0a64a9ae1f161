/** Frozen: the connection history of apps (Art. 5.11, 5.12). Change the schema in a new migration. */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('connection_events')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('app_id', 'text', (c) => c.notNull())
    .addColumn('unit_code', 'text', (c) => c.notNull())
    // Number of the transition in the app's history: whichever replica writes it, once.
    .addColumn('transition', 'bigint', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('occurred_at', 'timestamptz', (c) => c.notNull())
    .addColumn('client_clock_skew_ms', 'bigint')
    .addColumn('client_version', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('client_address', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('replica', 'text', (c) => c.notNull())
    .addColumn('previous_duration_ms', 'bigint')
    .addColumn('recorded_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('connection_events_app_transition', ['app_id', 'transition'])
    .addCheckConstraint('connection_events_transition', sql`transition >= 1`)
    .addCheckConstraint('connection_events_state', sql`state in ('online','offline')`)
    .addCheckConstraint('connection_events_channel', sql`channel in ('none','stream','heartbeat','webhook')`)
    .addCheckConstraint(
      'connection_events_reason',
      sql`reason in ('stream_opened','stream_closed','stream_broken','heartbeat','timeout','webhook_recovered','webhook_disabled','server_closed','app_disabled')`,
    )
    .execute();
  // Newest first, for one app, for one unit, and for everything (the primary key).
  await db.schema
    .createIndex('connection_events_app')
    .on('connection_events')
    .columns(['app_id', 'id'])
    .execute();
  await db.schema
    .createIndex('connection_events_unit')
    .on('connection_events')
    .columns(['unit_code', 'id'])
    .execute();
}
