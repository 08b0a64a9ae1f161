/**
 * Runs a service's migrations at start. Replicas starting together are
 * serialised twice: the schema is created under a transaction-scoped advisory
 * lock named after it, and kysely's Migrator holds its own advisory lock while
 * it applies migrations. Migrations are frozen: never edit one that has shipped.
 * The Migrator lists tables through lib/db/introspector.ts, which other
 * sessions' DDL cannot make fail.
 */
import { type Kysely, sql } from 'kysely';
import { type Migration, Migrator } from 'kysely/migration';

export type Migrations = Readonly<Record<string, Migration>>;

export async function migrateToLatest(
  db: Kysely<unknown>,
  schema: string,
  migrations: Migrations,
): Promise<string[]> {
  await db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(hashtext(${`lgsp.schema.${schema}`}))`.execute(trx);
    await sql`create schema if not exists ${sql.id(schema)}`.execute(trx);
  });
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => ({ ...migrations }) },
    migrationTableSchema: schema,
  });
  const { error, results = [] } = await migrator.migrateToLatest();
  if (error === undefined) return results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
  const failed = results.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
  throw new Error(`migration ${failed} of schema "${schema}" failed`, { cause: error });
}
