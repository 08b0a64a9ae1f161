/** Frozen: the registry's first schema. Change the schema in a new migration. */
import { type Kysely, sql } from 'kysely';
import { createOutboxTableV1 } from '#lib/db/outbox.js';

export async function up(db: Kysely<unknown>): Promise<void> {
  const now = sql`now()`;
  await db.schema
    .createTable('zones')
    .addColumn('code', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('local', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('endpoint', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('unit_code_patterns', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  await db.schema
    .createIndex('zones_one_local')
    .on('zones')
    .column('local')
    .unique()
    .where(sql.ref('local'), '=', true)
    .execute();

  await db.schema
    .createTable('units')
    .addColumn('code', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('name_folded', 'text', (c) => c.notNull())
    .addColumn('parent_code', 'text', (c) => c.references('units.code'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('zone_code', 'text', (c) => c.references('zones.code'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addCheckConstraint('units_kind', sql`kind in ('province','department','district','commune','other')`)
    .addCheckConstraint('units_status', sql`status in ('active','superseded','split','merged','dissolved')`)
    .execute();
  await db.schema.createIndex('units_parent').on('units').column('parent_code').execute();
  await db.schema.createIndex('units_name_folded').on('units').column('name_folded').execute();

  await db.schema
    .createTable('unit_events')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('from_codes', sql`text[]`, (c) => c.notNull())
    .addColumn('to_codes', sql`text[]`, (c) => c.notNull())
    .addColumn('old_name', 'text')
    .addColumn('new_name', 'text')
    .addColumn('decision_ref', 'text')
    .addColumn('reason', 'text')
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('occurred_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  await db.schema
    .createIndex('unit_events_from')
    .on('unit_events')
    .using('gin')
    .column('from_codes')
    .execute();
  await db.schema.createIndex('unit_events_to').on('unit_events').using('gin').column('to_codes').execute();

  await db.schema
    .createTable('unit_successors')
    .addColumn('predecessor_code', 'text', (c) => c.notNull().references('units.code'))
    .addColumn('successor_code', 'text', (c) => c.notNull().references('units.code'))
    .addColumn('event_id', 'bigint', (c) => c.notNull().references('unit_events.id'))
    .addPrimaryKeyConstraint('unit_successors_pk', ['predecessor_code', 'successor_code'])
    .execute();

  await db.schema
    .createTable('apps')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('unit_code', 'text', (c) => c.notNull().references('units.code'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('accepted_content_types', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('webhook_url', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addCheckConstraint('apps_status', sql`status in ('active','suspended','retired')`)
    .execute();
  await db.schema.createIndex('apps_unit').on('apps').column('unit_code').execute();

  await db.schema
    .createTable('grants')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('subject_unit_code', 'text', (c) => c.references('units.code'))
    .addColumn('subject_app_id', 'text', (c) => c.references('apps.id'))
    .addColumn('object_unit_code', 'text', (c) => c.references('units.code'))
    .addColumn('object_app_id', 'text', (c) => c.references('apps.id'))
    .addColumn('object_any', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz')
    .addColumn('note', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addCheckConstraint('grants_one_subject', sql`num_nonnulls(subject_unit_code, subject_app_id) = 1`)
    .addCheckConstraint(
      'grants_one_object',
      sql`num_nonnulls(object_unit_code, object_app_id) + (case when object_any then 1 else 0 end) = 1`,
    )
    .addCheckConstraint('grants_action', sql`action in ('send','call')`)
    .execute();
  await db.schema.createIndex('grants_subject_app').on('grants').column('subject_app_id').execute();
  await db.schema.createIndex('grants_subject_unit').on('grants').column('subject_unit_code').execute();

  await createOutboxTableV1(db);
}
