/**
 * The sso service's rotate-master-key command, run as a child process:
 * signing keys, client secrets (current and previous) and TOTP secrets
 * sealed under key A open under B alone after it, once.
 */
import { randomBytes } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSecretBox } from '#lib/crypto/secret-box.js';
import { type DatabasePool, openDatabase } from '#lib/db/database.js';
import { migrateToLatest } from '#lib/db/migrate.js';
import { dropSchemas } from '../../../test/support/cleanup.js';
import { TEST_DATABASE_URL, uniqueName } from '../../../test/support/env.js';
import { rotateCli } from '../../../test/support/rotate-cli.js';
import { sealedSecretContext } from '../src/context.js';
import { migrations } from '../src/db/migrations/index.js';
import type { SsoDatabase } from '../src/db/schema.js';
import { loadKeySet, rotateKeys } from '../src/domain/keys.js';

const keyA = randomBytes(32);
const keyB = randomBytes(32);
const schema = uniqueName('sso_rotate');
let database: DatabasePool;
let db: Kysely<SsoDatabase>;
const policy = { rotationMs: 30 * 86_400_000, prepublishMs: 86_400_000, retainMs: 7 * 86_400_000 };

const everything = async () => {
  const { rows } = await sql<{ v: string }>`
    select encode(private_jwk_sealed, 'hex') as v from ${sql.table(`${schema}.signing_keys`)}
    union all select encode(secret_sealed, 'hex') || '/' || encode(previous_secret_sealed, 'hex')
      from ${sql.table(`${schema}.relying_parties`)}
    union all select encode(totp_secret_sealed, 'hex') from ${sql.table(`${schema}.users`)}
    order by 1`.execute(db);
  return rows.map((r) => r.v);
};

beforeAll(async () => {
  database = await openDatabase({ kind: 'postgres', url: TEST_DATABASE_URL });
  db = database.forSchema<SsoDatabase>(schema);
  await migrateToLatest(db as Kysely<unknown>, schema, migrations);
  const boxA = createSecretBox(keyA);
  await rotateKeys(db, boxA, policy);
  await sql`insert into ${sql.table(`${schema}.relying_parties`)}
    (client_id, name, unit_code, redirect_uris, post_logout_redirect_uris, allowed_scopes, auth_method, status,
     secret_sealed, previous_secret_sealed, previous_secret_expires_at, created_by)
    values ('rp_rotate', 'Rotate', '000.00.00.H26', '[]', '[]', '[]', 'client_secret_basic', 'active',
     ${boxA.seal(Buffer.from('client-secret-now'), sealedSecretContext('rp_rotate'))},
     ${boxA.seal(Buffer.from('client-secret-before'), sealedSecretContext('rp_rotate'))}, now() + interval '1 day', 'test')`.execute(
    db,
  );
  await sql`insert into ${sql.table(`${schema}.users`)}
    (id, username, full_name, unit_code, roles, status, search_text, password_hash, password_change_required,
     totp_secret_sealed)
    values ('usr_rotate', 'rotate', 'Rotate', '000.00.00.H26', '[]', 'active', 'rotate', 'x', false,
     ${boxA.seal(Buffer.from('JBSWY3DPEHPK3PXP'), 'sso-totp:usr_rotate')})`.execute(db);
});

afterAll(async () => {
  await database.close();
  await dropSchemas([schema]);
});

describe('sso rotate-master-key', () => {
  it('re-seals every sealed column under B, once, and refuses a wrong previous key without writing', async () => {
    const before = await loadKeySet(db, createSecretBox(keyA));
    const underA = await everything();
    const env = { LGSP_SSO_ISSUER: 'https://lgsp.example.gov.vn/oidc' };
    const wrong = await rotateCli('sso', schema, { current: keyB, previous: randomBytes(32) }, [], env);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('signing_keys.private_jwk_sealed: 1');
    expect(await everything()).toEqual(underA);

    const first = await rotateCli('sso', schema, { current: keyB, previous: keyA }, [], env);
    expect(first.code, first.stderr).toBe(0);
    for (const column of [
      'signing_keys.private_jwk_sealed',
      'relying_parties.secret_sealed',
      'relying_parties.previous_secret_sealed',
      'users.totp_secret_sealed',
    ]) {
      expect(first.stdout).toContain(`${column}: 1 values, 1 re-sealed`);
    }
    const boxB = createSecretBox(keyB);
    // The service's own loader opens the signing keys with B alone.
    expect((await loadKeySet(db, boxB)).keys).toEqual(before.keys);
    const rp = await db.selectFrom('relying_parties').selectAll().executeTakeFirstOrThrow();
    expect(boxB.open(rp.secret_sealed!, sealedSecretContext(rp.client_id)).toString()).toBe(
      'client-secret-now',
    );
    expect(boxB.open(rp.previous_secret_sealed!, sealedSecretContext(rp.client_id)).toString()).toBe(
      'client-secret-before',
    );
    const user = await db.selectFrom('users').selectAll().executeTakeFirstOrThrow();
    expect(boxB.open(user.totp_secret_sealed!, `sso-totp:${user.id}`).toString()).toBe('JBSWY3DPEHPK3PXP');

    const underB = await everything();
    const second = await rotateCli('sso', schema, { current: keyB, previous: keyA }, [], env);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain('users.totp_secret_sealed: 1 values, 0 re-sealed, 1 already');
    expect(await everything()).toEqual(underB);
  }, 60_000);
});
