/** Queries on the ES256 keys that sign session tokens. */
import { type Kysely, sql } from 'kysely';
import type { AuthDatabase, PublicJwk, SigningKeyTable } from './schema.js';

type Db = Kysely<AuthDatabase>;

export interface SigningKeyRow {
  readonly kid: string;
  readonly private_jwk_ciphertext: Uint8Array;
  readonly public_jwk: PublicJwk;
  readonly created_at: Date;
  readonly retire_after: Date;
  readonly status: SigningKeyTable['status'];
}

/** Serialises key creation across replicas, for the transaction's duration. */
export async function lockSigningKeys(trx: Db): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext('lgsp.auth.signing_keys'))`.execute(trx);
}

/** The newest key that may still sign at `now`. */
export async function currentSigningKey(db: Db, now: Date): Promise<SigningKeyRow | undefined> {
  return db
    .selectFrom('signing_keys')
    .selectAll()
    .where('status', '=', 'active')
    .where('retire_after', '>', now)
    .orderBy('created_at', 'desc')
    .limit(1)
    .executeTakeFirst();
}

export async function insertSigningKey(
  trx: Db,
  key: { kid: string; privateJwkCiphertext: Uint8Array; publicJwk: PublicJwk; retireAfter: Date },
): Promise<SigningKeyRow> {
  return trx
    .insertInto('signing_keys')
    .values({
      kid: key.kid,
      alg: 'ES256',
      private_jwk_ciphertext: Buffer.from(key.privateJwkCiphertext),
      public_jwk: JSON.stringify(key.publicJwk),
      retire_after: key.retireAfter,
      status: 'active',
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Marks keys past their signing period as retired: they verify, never sign. */
export async function retireSigningKeys(trx: Db, now: Date): Promise<void> {
  await trx
    .updateTable('signing_keys')
    .set({ status: 'retired' })
    .where('status', '=', 'active')
    .where('retire_after', '<=', now)
    .execute();
}

/** Public keys that may have signed a token still unexpired at `now`. */
export async function verificationKeys(db: Db, signedSince: Date): Promise<PublicJwk[]> {
  const rows = await db
    .selectFrom('signing_keys')
    .select('public_jwk')
    .where('retire_after', '>', signedSince)
    .orderBy('created_at', 'desc')
    .execute();
  return rows.map((r) => r.public_jwk);
}
