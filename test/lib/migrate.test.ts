import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '#lib/db/database.js';
import { migrateToLatest } from '#lib/db/migrate.js';
import { migrations } from '../../services/registry/src/db/migrations/index.js';
import { dropSchemas } from '../support/cleanup.js';
import { TEST_DATABASE_URL, uniqueName } from '../support/env.js';

const schemas: string[] = [];
afterAll(async () => {
  await dropSchemas(schemas);
});

describe('migrations at start', () => {
  it('run once when several replicas start together on real Postgres', async () => {
    const schema = uniqueName('migrate');
    schemas.push(schema);
    const pools = await Promise.all(
      [1, 2, 3].map(() => openDatabase({ kind: 'postgres', url: TEST_DATABASE_URL })),
    );
    try {
      const applied = await Promise.all(
        pools.map((p) => migrateToLatest(p.forSchema(schema), schema, migrations)),
      );
      expect(applied.flat()).toEqual(['0001_initial']);
      const db = pools[0]!.forSchema<{ kysely_migration: { name: string } }>(schema);
      const rows = await db.selectFrom('kysely_migration').select('name').execute();
      expect(rows.map((r) => r.name)).toEqual(['0001_initial']);
    } finally {
      await Promise.all(pools.map((p) => p.close()));
    }
  });

  it('work on PGlite and survive a reopen', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lgsp-pglite-'));
    try {
      let pool = await openDatabase({ kind: 'pglite', dataDir: dir });
      expect(await migrateToLatest(pool.forSchema('registry'), 'registry', migrations)).toEqual([
        '0001_initial',
      ]);
      await pool.close();
      pool = await openDatabase({ kind: 'pglite', dataDir: dir });
      expect(await migrateToLatest(pool.forSchema('registry'), 'registry', migrations)).toEqual([]);
      await pool.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('PGlite pool', () => {
  it('keeps one transaction from seeing or taking part in another', async () => {
    const pool = await openDatabase({ kind: 'pglite', dataDir: 'memory://' });
    try {
      const db = pool.forSchema<{ t: { v: number } }>('public');
      await sql`create table t (v int)`.execute(db);
      const rolledBack = db.transaction().execute(async (trx) => {
        await trx.insertInto('t').values({ v: 1 }).execute();
        await new Promise((r) => setTimeout(r, 50));
        throw new Error('roll back');
      });
      // Issued while the transaction is open: must not run inside it, or it would be rolled back too.
      const outside = db.insertInto('t').values({ v: 2 }).execute();
      await expect(rolledBack).rejects.toThrow('roll back');
      await outside;
      const rows = await db.selectFrom('t').select('v').execute();
      expect(rows).toEqual([{ v: 2 }]);
    } finally {
      await pool.close();
    }
  });
});

describe('catalog introspection', () => {
  it('lists tables while other sessions create and drop schemas, without failing', async () => {
    const pool = await openDatabase({ kind: 'postgres', url: TEST_DATABASE_URL });
    const churn = await openDatabase({ kind: 'postgres', url: TEST_DATABASE_URL });
    const prefix = uniqueName('churn');
    let stop = false;
    const dropper = (async () => {
      const db = churn.forSchema('public');
      for (let i = 0; !stop; i++) {
        const schema = `${prefix}_${i}`;
        await sql`create schema ${sql.id(schema)}`.execute(db);
        await sql`create table ${sql.id(schema, 't')} (id serial primary key, v text)`.execute(db);
        await sql`drop schema ${sql.id(schema)} cascade`.execute(db);
      }
    })();
    try {
      const schema = uniqueName('introspect');
      schemas.push(schema);
      const db = pool.forSchema(schema);
      await sql`create schema ${sql.id(schema)}`.execute(db);
      await sql`create table ${sql.id(schema, 'items')} (id serial primary key, name text not null, note text default 'x')`.execute(
        db,
      );
      for (let i = 0; i < 20; i++) {
        const tables = await db.introspection.getTables();
        const items = tables.find((t) => t.schema === schema && t.name === 'items');
        expect(
          items?.columns.map((c) => [c.name, c.isAutoIncrementing, c.isNullable, c.hasDefaultValue]),
        ).toEqual([
          ['id', true, false, true],
          ['name', false, false, false],
          ['note', false, true, true],
        ]);
      }
    } finally {
      stop = true;
      await dropper;
      await Promise.all([pool.close(), churn.close()]);
    }
  }, 120_000);
});
