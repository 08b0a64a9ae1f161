/** Queries on relying parties (OIDC clients). */
import type { Insertable, Kysely, Selectable, Updateable } from 'kysely';
import type { RelyingPartyTable, SsoDatabase } from './schema.js';

type Db = Kysely<SsoDatabase>;
export type RelyingPartyRow = Selectable<RelyingPartyTable>;

export async function insertRelyingParty(
  db: Db,
  row: Insertable<RelyingPartyTable>,
): Promise<RelyingPartyRow> {
  return db.insertInto('relying_parties').values(row).returningAll().executeTakeFirstOrThrow();
}

export async function findRelyingParty(db: Db, clientId: string): Promise<RelyingPartyRow | undefined> {
  return db.selectFrom('relying_parties').selectAll().where('client_id', '=', clientId).executeTakeFirst();
}

export async function updateRelyingParty(
  db: Db,
  clientId: string,
  changes: Updateable<RelyingPartyTable>,
): Promise<RelyingPartyRow> {
  return db
    .updateTable('relying_parties')
    .set({ ...changes, updated_at: new Date() })
    .where('client_id', '=', clientId)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function listRelyingParties(
  db: Db,
  filter: {
    unitCodes?: readonly string[];
    includeDisabled: boolean;
    offset: number;
    limit: number;
  },
): Promise<RelyingPartyRow[]> {
  let query = db.selectFrom('relying_parties').selectAll();
  if (filter.unitCodes !== undefined) {
    if (filter.unitCodes.length === 0) return [];
    query = query.where('unit_code', 'in', filter.unitCodes);
  }
  if (!filter.includeDisabled) query = query.where('status', '=', 'active');
  return query.orderBy('name').orderBy('client_id').offset(filter.offset).limit(filter.limit).execute();
}
