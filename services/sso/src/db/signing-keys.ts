/** Queries on the provider's signing keys (private halves sealed under the master key). */
import { type Insertable, type Kysely, type Selectable, sql } from 'kysely';
import type { SigningKeyTable, SsoDatabase } from './schema.js';

type Db = Kysely<SsoDatabase>;
export type SigningKeyRow = Selectable<SigningKeyTable>;

/** Serialises key creation across replicas, for the transaction's duration. */
export async function lockSigningKeys(trx: Db): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext('lgsp.sso.signing_keys'))`.execute(trx);
}

/** Keys still published at `now`, newest first. */
export async function publishedKeys(db: Db, now: Date): Promise<SigningKeyRow[]> {
  return db
    .selectFrom('signing_keys')
    .selectAll()
    .where((eb) => eb.or([eb('unpublish_at', 'is', null), eb('unpublish_at', '>', now)]))
    .orderBy('sign_from', 'desc')
    .execute();
}

export async function insertSigningKey(db: Db, row: Insertable<SigningKeyTable>): Promise<void> {
  await db.insertInto('signing_keys').values(row).execute();
}

/** Schedules the removal from the key set of every key that signed before `signFrom`. */
export async function unpublishOlderKeys(db: Db, signFrom: Date, unpublishAt: Date): Promise<void> {
  await db
    .updateTable('signing_keys')
    .set({ unpublish_at: unpublishAt })
    .where('sign_from', '<', signFrom)
    .where('unpublish_at', 'is', null)
    .execute();
}

export async function deleteUnpublishedKeys(db: Db, now: Date): Promise<void> {
  await db.deleteFrom('signing_keys').where('unpublish_at', '<=', now).execute();
}
