/** Frozen: the auth service's first schema. Change the schema in a new migration. */
import { type Kysely, sql } from 'kysely';
import { createOutboxTableV1 } from '#lib/db/outbox.js';

export async function up(db: Kysely<unknown>): Promise<void> {
  const now = sql`now()`;
  await db.schema
    .createTable('credentials')
    .addColumn('access_key_id', 'text', (c) => c.primaryKey())
    .addColumn('owner_app_id', 'text')
    .addColumn('owner_operator_name', 'text')
    // The owning app's unit (from the registry), or a unit administrator's unit; null for province operators.
    .addColumn('unit_code', 'text')
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('algorithms', sql`text[]`, (c) => c.notNull())
    .addColumn('secret_ciphertext', 'bytea')
    .addColumn('secret_hint', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('public_key_der', 'bytea')
    .addColumn('public_key_fingerprint', 'text')
    .addColumn('key_bits', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('roles', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('label', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('rotated_from', 'text', (c) => c.references('credentials.access_key_id'))
    .addColumn('replaced_by', 'text', (c) => c.references('credentials.access_key_id'))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('version', 'bigint', (c) => c.notNull().defaultTo(1))
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('expires_at', 'timestamptz')
    .addColumn('expiry_warned_at', 'timestamptz')
    .addColumn('revoked_at', 'timestamptz')
    .addColumn('revoked_by', 'text')
    .addColumn('revoke_reason', 'text')
    .addColumn('last_used_at', 'timestamptz')
    .addCheckConstraint('credentials_one_owner', sql`num_nonnulls(owner_app_id, owner_operator_name) = 1`)
    .addCheckConstraint('credentials_kind', sql`kind in ('hmac_secret','rsa_public_key')`)
    .addCheckConstraint('credentials_status', sql`status in ('active','expired','revoked')`)
    .addCheckConstraint(
      'credentials_material',
      sql`(kind = 'hmac_secret' and secret_ciphertext is not null and public_key_der is null)
       or (kind = 'rsa_public_key' and public_key_der is not null and secret_ciphertext is null)`,
    )
    .addCheckConstraint('credentials_app_roles', sql`owner_app_id is null or cardinality(roles) = 0`)
    .execute();
  await db.schema.createIndex('credentials_owner_app').on('credentials').column('owner_app_id').execute();
  await db.schema
    .createIndex('credentials_owner_operator')
    .on('credentials')
    .column('owner_operator_name')
    .execute();
  await db.schema.createIndex('credentials_unit').on('credentials').column('unit_code').execute();
  await db.schema
    .createIndex('credentials_expiring')
    .on('credentials')
    .column('expires_at')
    .where(sql.ref('status'), '=', 'active')
    .execute();
  // A public key authenticates one credential, ever: a revoked key never comes back.
  await db.schema
    .createIndex('credentials_public_key')
    .on('credentials')
    .column('public_key_fingerprint')
    .unique()
    .execute();

  await db.schema
    .createTable('signing_keys')
    .addColumn('kid', 'text', (c) => c.primaryKey())
    .addColumn('alg', 'text', (c) => c.notNull())
    .addColumn('private_jwk_ciphertext', 'bytea', (c) => c.notNull())
    .addColumn('public_jwk', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    // Signs no token after this; stays in the JWKS until its last token has expired.
    .addColumn('retire_after', 'timestamptz', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addCheckConstraint('signing_keys_alg', sql`alg in ('ES256')`)
    .addCheckConstraint('signing_keys_status', sql`status in ('active','retired')`)
    .execute();

  await createOutboxTableV1(db);
}
