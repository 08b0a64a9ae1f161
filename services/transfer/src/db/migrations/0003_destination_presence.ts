/**
 * Frozen: the presence of destination apps as the notification service
 * announces it (PresenceChanged), and which offline spell each open delivery
 * has already been warned of (Art. 5.9). Change the schema in a new migration.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('destination_presence')
    .addColumn('app_id', 'text', (c) => c.primaryKey())
    .addColumn('state', 'text', (c) => c.notNull())
    // When the current state began.
    .addColumn('since', 'timestamptz', (c) => c.notNull())
    // The app's transition number: an older event never overwrites a newer one.
    .addColumn('transition', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('destination_presence_state', sql`state in ('online','offline')`)
    .execute();
  // The transition that began the offline spell the source was told of; 0 for a destination
  // never seen online; null while the source was not told.
  await db.schema.alterTable('deliveries').addColumn('offline_warned_transition', 'bigint').execute();
}
