/**
 * The auth service's rotate-master-key command, run as a child process: an
 * administrator credential and a session signing key sealed under key A are
 * re-sealed under B, after which an auth service holding only B serves them.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type { Kysely } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { createSecretBox } from '#lib/crypto/secret-box.js';
import { openDatabase } from '#lib/db/database.js';
import { dropSchemas } from '../../../test/support/cleanup.js';
import { TEST_DATABASE_URL, uniqueName } from '../../../test/support/env.js';
import { rotateCli } from '../../../test/support/rotate-cli.js';
import type { AuthDatabase } from '../src/db/schema.js';
import { loadKeyMaterial } from '../src/domain/key-material.js';
import { createSessionKeys } from '../src/domain/session-keys.js';
import { startTestAuth } from './support.js';

const run = promisify(execFile);
const keyA = randomBytes(32);
const keyB = randomBytes(32);
const schema = uniqueName('auth_rotate');

async function sealedValues(db: Kysely<AuthDatabase>): Promise<string[]> {
  const creds = await db
    .selectFrom('credentials')
    .select(['secret_ciphertext'])
    .orderBy('access_key_id')
    .execute();
  const keys = await db
    .selectFrom('signing_keys')
    .select(['private_jwk_ciphertext'])
    .orderBy('kid')
    .execute();
  return [
    ...creds.map((r) => Buffer.from(r.secret_ciphertext ?? []).toString('hex')),
    ...keys.map((r) => Buffer.from(r.private_jwk_ciphertext).toString('hex')),
  ];
}

describe('auth rotate-master-key', () => {
  afterAll(async () => {
    await dropSchemas([schema]);
  });

  it('re-seals credentials and signing keys from A to B, once, and refuses a wrong previous key', async () => {
    const created = await run(
      process.execPath,
      ['--import', 'tsx', 'services/auth/src/bin/create-admin.ts', '--name', 'ops-rotate'],
      {
        env: {
          ...process.env,
          DATABASE_URL: TEST_DATABASE_URL,
          DB_SCHEMA: schema,
          LGSP_MASTER_KEY: keyA.toString('base64'),
          LOG_LEVEL: 'silent',
        },
        cwd: new URL('../../../', import.meta.url).pathname,
      },
    );
    const admin = JSON.parse(created.stdout) as { access_key_id: string; secret_key: string };
    const database = await openDatabase({ kind: 'postgres', url: TEST_DATABASE_URL });
    const db = database.forSchema<AuthDatabase>(schema);
    try {
      const signerA = await createSessionKeys(db, createSecretBox(keyA)).signer();
      const underA = await sealedValues(db);
      expect(underA).toHaveLength(2);

      const wrong = await rotateCli('auth', schema, { current: keyB, previous: randomBytes(32) });
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toContain('credentials.secret_ciphertext: 1 (first: ');
      expect(wrong.stderr).toContain('signing_keys.private_jwk_ciphertext: 1');
      expect(wrong.stderr).toContain('nothing was written');
      expect(await sealedValues(db)).toEqual(underA);

      const missing = await rotateCli('auth', schema, { current: keyB });
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain('LGSP_MASTER_KEY_PREVIOUS is required');

      const dry = await rotateCli('auth', schema, { current: keyB, previous: keyA }, ['--dry-run']);
      expect(dry.code, dry.stderr).toBe(0);
      expect(dry.stdout).toContain('credentials.secret_ciphertext: 1 values, 1 to re-seal');
      expect(await sealedValues(db)).toEqual(underA);

      const first = await rotateCli('auth', schema, { current: keyB, previous: keyA });
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toContain('credentials.secret_ciphertext: 1 values, 1 re-sealed, 0 already');
      expect(first.stdout).toContain('signing_keys.private_jwk_ciphertext: 1 values, 1 re-sealed');
      const underB = await sealedValues(db);
      expect(underB.some((v, i) => v === underA[i])).toBe(false);

      const second = await rotateCli('auth', schema, { current: keyB, previous: keyA });
      expect(second.code, second.stderr).toBe(0);
      expect(second.stdout).toContain('credentials.secret_ciphertext: 1 values, 0 re-sealed, 1 already');
      expect(await sealedValues(db)).toEqual(underB);

      // An auth service with B only: the credential verifies with the same secret, the same key signs.
      const mesh = await startTestAuth({ dbSchema: schema, masterKey: keyB });
      try {
        const found = await loadKeyMaterial(mesh.auth.context, admin.access_key_id);
        expect(found.ok).toBe(true);
        if (found.ok) {
          expect(Buffer.from(found.material.hmacSecret).toString('utf8')).toBe(admin.secret_key);
        }
        expect((await mesh.auth.context.sessionKeys.signer()).kid).toBe(signerA.kid);
      } finally {
        await mesh.close();
      }
    } finally {
      await database.close();
    }
  }, 120_000);
});
