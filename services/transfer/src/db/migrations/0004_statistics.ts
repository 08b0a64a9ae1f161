/**
 * Frozen: statistics and the unit history (Art. 5.11, 5.12). The facts the
 * statistics consumer recorded, keyed by what they are about, so that a
 * replayed event finds its fact and adds nothing; the per-day aggregates it
 * adds to; and the indexes that let a unit's send and receive history be read
 * by unit. Change the schema in a new migration.
 */
import { type Kysely, sql } from 'kysely';

/** h00 … h21: the delivery-time histogram (domain/statistics.ts, LATENCY_BOUNDS_MS). */
const BUCKETS = Array.from({ length: 22 }, (_, i) => `h${String(i).padStart(2, '0')}`);

export async function up(db: Kysely<unknown>): Promise<void> {
  const now = sql`now()`;
  // One row per delivery (or per transfer that ended before any was planned).
  await db.schema
    .createTable('stat_deliveries')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('source_unit_code', 'text', (c) => c.notNull())
    // Empty for a transfer that ended before any delivery was planned.
    .addColumn('destination_unit_code', 'text', (c) => c.notNull())
    // The day it was planned, in the statistics time zone: its figures belong there.
    .addColumn('day', 'date', (c) => c.notNull())
    .addColumn('size_bytes', 'bigint', (c) => c.notNull())
    .addColumn('planned_at', 'timestamptz', (c) => c.notNull())
    // delivered, refused, expired, failed or cancelled; null while open.
    .addColumn('outcome', 'text')
    .addColumn('finished_at', 'timestamptz')
    .addColumn('recorded_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();

  const traffic = (table: string, withCounterparty: boolean) => {
    let t = db.schema
      .createTable(table)
      .addColumn('unit_code', 'text', (c) => c.notNull())
      .addColumn('day', 'date', (c) => c.notNull())
      .addColumn('direction', 'text', (c) => c.notNull());
    if (withCounterparty) t = t.addColumn('counterparty_unit_code', 'text', (c) => c.notNull());
    for (const column of [
      'packages',
      'bytes',
      'delivered',
      'refused',
      'expired',
      'failed',
      'cancelled',
      'delivery_ms_sum',
      ...BUCKETS,
    ]) {
      t = t.addColumn(column, 'bigint', (c) => c.notNull().defaultTo(0));
    }
    return t
      .addPrimaryKeyConstraint(
        `${table}_pk`,
        (withCounterparty
          ? ['unit_code', 'day', 'direction', 'counterparty_unit_code']
          : ['unit_code', 'day', 'direction']) as never,
      )
      .addCheckConstraint(`${table}_direction`, sql`direction in ('sent','received')`)
      .execute();
  };
  // Per unit, day and direction: what every report reads.
  await traffic('stat_unit_daily', false);
  await db.schema.createIndex('stat_unit_daily_day').on('stat_unit_daily').column('day').execute();
  // The same, per counterparty: what a report broken down by counterparty reads.
  await traffic('stat_pair_daily', true);

  // One row per presence transition the consumer counted.
  await db.schema
    .createTable('stat_presence_events')
    .addColumn('app_id', 'text', (c) => c.notNull())
    .addColumn('transition', 'bigint', (c) => c.notNull())
    .addColumn('unit_code', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('occurred_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('stat_presence_events_pk', ['app_id', 'transition'])
    .execute();
  await db.schema
    .createTable('stat_presence_daily')
    .addColumn('unit_code', 'text', (c) => c.notNull())
    .addColumn('day', 'date', (c) => c.notNull())
    .addColumn('app_id', 'text', (c) => c.notNull())
    .addColumn('connects', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('disconnects', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('online_ms', 'bigint', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('stat_presence_daily_pk', ['unit_code', 'day', 'app_id'])
    .execute();
  await db.schema.createIndex('stat_presence_daily_day').on('stat_presence_daily').column('day').execute();
  // The latest transition of every app seen: its current spell counts up to now.
  await db.schema
    .createTable('stat_presence_current')
    .addColumn('app_id', 'text', (c) => c.primaryKey())
    .addColumn('unit_code', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('since', 'timestamptz', (c) => c.notNull())
    .addColumn('transition', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('stat_presence_current_unit')
    .on('stat_presence_current')
    .column('unit_code')
    .execute();

  // A unit's history: what its apps sent, what its apps received.
  await db.schema
    .createIndex('transfers_source_unit')
    .on('transfers')
    .columns(['source_unit_code', 'created_at'])
    .execute();
  await db.schema
    .createIndex('deliveries_destination_unit')
    .on('deliveries')
    .columns(['destination_unit_code', 'created_at'])
    .execute();
}
