/** Re-sealing a table's values from the previous master key to the new one, on the real Postgres. */
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RotationError, rotateSealedColumns, type SealedColumn } from '#lib/crypto/rotate.js';
import { createSecretBox } from '#lib/crypto/secret-box.js';
import { type DatabasePool, openDatabase } from '#lib/db/database.js';
import { dropSchemas } from '../support/cleanup.js';
import { TEST_DATABASE_URL, uniqueName } from '../support/env.js';

const keyA = randomBytes(32);
const keyB = randomBytes(32);
const boxA = createSecretBox(keyA);
const boxB = createSecretBox(keyB);
const schema = uniqueName('rotate');
const ctx = (id: string) => `thing:${id}`;
const spec: SealedColumn = {
  table: 'things',
  key: 'id',
  column: 'sealed',
  context: ctx,
  alsoSet: { key_name: 'B' },
};

let database: DatabasePool;
const db = () => database.forSchema<unknown>(schema);

async function snapshot(): Promise<Map<string, { sealed: string | null; keyName: string }>> {
  const { rows } = await sql<{ id: string; sealed: Uint8Array | null; key_name: string }>`
    select id, sealed, key_name from ${sql.table(`${schema}.things`)}`.execute(db());
  return new Map(
    rows.map((r) => [
      r.id,
      { sealed: r.sealed === null ? null : Buffer.from(r.sealed).toString('hex'), keyName: r.key_name },
    ]),
  );
}

beforeAll(async () => {
  database = await openDatabase({ kind: 'postgres', url: TEST_DATABASE_URL });
  await sql`create schema ${sql.id(schema)}`.execute(db());
  await sql`create table ${sql.table(`${schema}.things`)} (id text primary key, sealed bytea, key_name text not null)`.execute(
    db(),
  );
  // Seven values under A, two under B already, one row with nothing sealed.
  for (let i = 0; i < 10; i += 1) {
    const id = `t${i.toString().padStart(2, '0')}`;
    const plain = Buffer.from(`secret ${i}`);
    const sealed = i < 7 ? boxA.seal(plain, ctx(id)) : i < 9 ? boxB.seal(plain, ctx(id)) : null;
    await sql`insert into ${sql.table(`${schema}.things`)} values (${id}, ${sealed}, ${i < 7 ? 'A' : 'B'})`.execute(
      db(),
    );
  }
});

afterAll(async () => {
  await database.close();
  await dropSchemas([schema]);
});

describe('rotateSealedColumns', () => {
  it('refuses a wrong previous key before writing anything, naming the values', async () => {
    const before = await snapshot();
    const error = await rotateSealedColumns(db(), schema, [spec], {
      current: keyB,
      previous: randomBytes(32),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RotationError);
    expect((error as Error).message).toContain('things.sealed: 7 (first: t00, t01, t02, t03, t04)');
    expect((error as RotationError).reports[0]).toMatchObject({ values: 9, current: 2, unreadable: 7 });
    expect(await snapshot()).toEqual(before);
    await expect(
      rotateSealedColumns(db(), schema, [spec], { current: keyA, previous: keyA }),
    ).rejects.toThrow(/same key/);
  });

  it('a dry run counts and writes nothing', async () => {
    const before = await snapshot();
    const [report] = await rotateSealedColumns(
      db(),
      schema,
      [spec],
      { current: keyB, previous: keyA },
      { dryRun: true },
    );
    expect(report).toMatchObject({ values: 9, current: 2, resealed: 0, unreadable: 0 });
    expect(await snapshot()).toEqual(before);
  });

  it('resumes after a crash between batches, re-seals the rest, and a second run changes nothing', async () => {
    const before = await snapshot();
    // The first batch commits, then the "process" dies.
    await expect(
      rotateSealedColumns(
        db(),
        schema,
        [spec],
        { current: keyB, previous: keyA },
        {
          batchSize: 3,
          onBatch: () => {
            throw new Error('crash');
          },
        },
      ),
    ).rejects.toThrow('crash');
    const midway = await snapshot();
    // t07-t09 were B from the start; t00-t02 are now.
    expect([...midway.values()].filter((v) => v.keyName === 'B')).toHaveLength(6);

    const [report] = await rotateSealedColumns(
      db(),
      schema,
      [spec],
      { current: keyB, previous: keyA },
      { batchSize: 3 },
    );
    expect(report).toMatchObject({ values: 9, resealed: 4, current: 5 });
    const after = await snapshot();
    for (const [id, row] of after) {
      if (row.sealed === null) {
        expect(before.get(id)?.sealed).toBeNull();
        continue;
      }
      expect(row.keyName).toBe('B');
      const plain = boxB.open(Buffer.from(row.sealed, 'hex'), ctx(id)).toString();
      expect(plain).toBe(`secret ${Number(id.slice(1))}`);
      expect(() => boxA.open(Buffer.from(row.sealed ?? '', 'hex'), ctx(id))).toThrow();
    }
    // The two values under B from the start were left alone.
    expect(after.get('t07')).toEqual(before.get('t07'));

    const [again] = await rotateSealedColumns(db(), schema, [spec], { current: keyB, previous: keyA });
    expect(again).toMatchObject({ values: 9, resealed: 0, current: 9 });
    expect(await snapshot()).toEqual(after);
  });
});
