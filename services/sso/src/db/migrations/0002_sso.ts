/** Frozen: users, relying parties, signing keys and the OIDC provider's state. Change the schema in a new migration. */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('username', 'text', (c) => c.notNull().unique())
    .addColumn('full_name', 'text', (c) => c.notNull())
    .addColumn('email', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('phone', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('unit_code', 'text', (c) => c.notNull())
    .addColumn('roles', 'jsonb', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    // Folded to ASCII lower case: what ListUsers' query matches.
    .addColumn('search_text', 'text', (c) => c.notNull())
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('password_change_required', 'boolean', (c) => c.notNull())
    .addColumn('failed_logins', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('locked_until', 'timestamptz')
    .addColumn('totp_secret_sealed', 'bytea')
    // The last TOTP time step accepted: a code is good once.
    .addColumn('totp_last_step', 'bigint')
    .addColumn('last_login_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('users_status', sql`status in ('active','locked','disabled')`)
    .execute();
  await db.schema.createIndex('users_unit').on('users').columns(['unit_code', 'username']).execute();

  await db.schema
    .createTable('relying_parties')
    .addColumn('client_id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('app_id', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('unit_code', 'text', (c) => c.notNull())
    .addColumn('redirect_uris', 'jsonb', (c) => c.notNull())
    .addColumn('post_logout_redirect_uris', 'jsonb', (c) => c.notNull())
    .addColumn('backchannel_logout_uri', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('allowed_scopes', 'jsonb', (c) => c.notNull())
    .addColumn('auth_method', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('secret_sealed', 'bytea')
    .addColumn('secret_issued_at', 'timestamptz')
    .addColumn('previous_secret_sealed', 'bytea')
    .addColumn('previous_secret_expires_at', 'timestamptz')
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint(
      'relying_parties_auth_method',
      sql`auth_method in ('client_secret_basic','client_secret_post','none')`,
    )
    .addCheckConstraint('relying_parties_status', sql`status in ('active','disabled')`)
    .execute();
  await db.schema
    .createIndex('relying_parties_unit')
    .on('relying_parties')
    .columns(['unit_code', 'name'])
    .execute();

  await db.schema
    .createTable('signing_keys')
    .addColumn('kid', 'text', (c) => c.primaryKey())
    .addColumn('alg', 'text', (c) => c.notNull())
    .addColumn('private_jwk_sealed', 'bytea', (c) => c.notNull())
    .addColumn('public_jwk', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    // Signs from this time on (published before it)...
    .addColumn('sign_from', 'timestamptz', (c) => c.notNull())
    // ...and is removed from the key set after this time (set when a newer key takes over).
    .addColumn('unpublish_at', 'timestamptz')
    .execute();

  // Everything oidc-provider keeps (sessions, interactions, codes, tokens,
  // grants, replay records), one row per model and id, the payload as it gives it.
  await db.schema
    .createTable('oidc_payloads')
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('payload', 'jsonb', (c) => c.notNull())
    .addColumn('grant_id', 'text')
    .addColumn('uid', 'text')
    .addColumn('user_code', 'text')
    .addColumn('account_id', 'text')
    .addColumn('expires_at', 'timestamptz')
    .addColumn('consumed_at', 'timestamptz')
    .addPrimaryKeyConstraint('oidc_payloads_pk', ['model', 'id'])
    .execute();
  await db.schema
    .createIndex('oidc_payloads_grant')
    .on('oidc_payloads')
    .column('grant_id')
    .where(sql.ref('grant_id'), 'is not', null)
    .execute();
  await db.schema
    .createIndex('oidc_payloads_uid')
    .on('oidc_payloads')
    .columns(['model', 'uid'])
    .where(sql.ref('uid'), 'is not', null)
    .execute();
  await db.schema
    .createIndex('oidc_payloads_account')
    .on('oidc_payloads')
    .columns(['account_id', 'model'])
    .where(sql.ref('account_id'), 'is not', null)
    .execute();
  await db.schema.createIndex('oidc_payloads_expiry').on('oidc_payloads').column('expires_at').execute();
}
