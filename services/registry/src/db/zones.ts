/** Queries on zones. */
import { type Kysely, sql } from 'kysely';
import type { ZoneRow } from './rows.js';
import type { RegistryDatabase } from './schema.js';

type Db = Kysely<RegistryDatabase>;

export async function listZones(db: Db): Promise<ZoneRow[]> {
  return db.selectFrom('zones').selectAll().orderBy('local', 'desc').orderBy('code').execute();
}

export async function findZone(db: Db, code: string): Promise<ZoneRow | undefined> {
  return db.selectFrom('zones').selectAll().where('code', '=', code).executeTakeFirst();
}

export interface ZoneInput {
  readonly code: string;
  readonly name: string;
  readonly local: boolean;
  readonly endpoint: string;
  readonly unitCodePatterns: readonly string[];
}

export async function upsertZone(trx: Db, zone: ZoneInput): Promise<ZoneRow> {
  const values = {
    code: zone.code,
    name: zone.name,
    local: zone.local,
    endpoint: zone.endpoint,
    unit_code_patterns: [...zone.unitCodePatterns],
  };
  return trx
    .insertInto('zones')
    .values(values)
    .onConflict((oc) => oc.column('code').doUpdateSet({ ...values, updated_at: sql<Date>`now()` }))
    .returningAll()
    .executeTakeFirstOrThrow();
}
