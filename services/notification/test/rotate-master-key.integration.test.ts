/**
 * The notification service's rotate-master-key command, run as a child
 * process: webhook signing secrets sealed under key A open under B alone, to
 * the same secret (so every signature stays identical), once.
 */
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSecretBox } from '#lib/crypto/secret-box.js';
import { type DatabasePool, openDatabase } from '#lib/db/database.js';
import { migrateToLatest } from '#lib/db/migrate.js';
import { dropSchemas } from '../../../test/support/cleanup.js';
import { TEST_DATABASE_URL, uniqueName } from '../../../test/support/env.js';
import { rotateCli } from '../../../test/support/rotate-cli.js';
import { migrations } from '../src/db/migrations/index.js';
import type { NotificationDatabase } from '../src/db/schema.js';

const keyA = randomBytes(32);
const keyB = randomBytes(32);
const schema = uniqueName('notification_rotate');
const secrets = new Map<string, string>();
let database: DatabasePool;
let db: Kysely<NotificationDatabase>;

const sealed = async () =>
  (await db.selectFrom('webhooks').select(['id', 'secret_sealed']).orderBy('id').execute()).map((r) =>
    Buffer.from(r.secret_sealed).toString('hex'),
  );

beforeAll(async () => {
  database = await openDatabase({ kind: 'postgres', url: TEST_DATABASE_URL });
  db = database.forSchema<NotificationDatabase>(schema);
  await migrateToLatest(db as Kysely<unknown>, schema, migrations);
  const boxA = createSecretBox(keyA);
  for (let i = 0; i < 5; i += 1) {
    const id = `whk_${i}${randomBytes(6).toString('hex')}`;
    const secret = randomBytes(32).toString('base64url');
    secrets.set(id, secret);
    // As routes/webhooks.ts seals it: to the webhook id.
    await db
      .insertInto('webhooks')
      .values({
        id,
        app_id: 'app_rotate',
        url: 'https://hooks.example.gov.vn/lgsp',
        state: 'active',
        secret_sealed: boxA.seal(Buffer.from(secret, 'utf8'), id),
      } as never)
      .execute();
  }
});

afterAll(async () => {
  await database.close();
  await dropSchemas([schema]);
});

describe('notification rotate-master-key', () => {
  it('refuses a wrong previous key without writing, re-seals under B in batches, and then changes nothing', async () => {
    const underA = await sealed();
    const wrong = await rotateCli('notification', schema, { current: keyB, previous: randomBytes(32) });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('webhooks.secret_sealed: 5 (first: ');
    expect(await sealed()).toEqual(underA);

    const first = await rotateCli('notification', schema, { current: keyB, previous: keyA }, [
      '--batch-size',
      '2',
    ]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('webhooks.secret_sealed: 5 values, 5 re-sealed, 0 already');
    const boxB = createSecretBox(keyB);
    const rows = await db.selectFrom('webhooks').select(['id', 'secret_sealed']).execute();
    for (const row of rows) {
      // What the dispatcher signs with (consumers/webhook-dispatch.ts).
      expect(boxB.open(row.secret_sealed, row.id).toString('utf8')).toBe(secrets.get(row.id));
    }
    const underB = await sealed();
    const second = await rotateCli('notification', schema, { current: keyB, previous: keyA });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain('webhooks.secret_sealed: 5 values, 0 re-sealed, 5 already');
    expect(await sealed()).toEqual(underB);
  }, 60_000);
});
