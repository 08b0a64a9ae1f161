/**
 * One place that knows how to reach Postgres: a real server through `pg`, or
 * PGlite for the embedded mode. Each service works in a schema of its own.
 */
import { mkdirSync } from 'node:fs';
import { Kysely, type PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { LgspPostgresDialect } from './introspector.js';
import { PglitePool } from './pglite-pool.js';

export type DatabaseSource =
  | { readonly kind: 'postgres'; readonly url: string; readonly maxConnections?: number }
  | { readonly kind: 'pglite'; readonly dataDir: string };

/** A connection pool shared by every schema that lives in one database. */
export interface DatabasePool {
  readonly kind: DatabaseSource['kind'];
  /** A kysely instance whose unqualified table names resolve in `schema`. */
  forSchema<DB>(schema: string): Kysely<DB>;
  /** Resolves when the database answers a query. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

// int8 (bigserial ids, byte counts) as numbers: every value the platform
// stores fits in 2^53, and one representation for both drivers avoids surprises.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));

export async function openDatabase(source: DatabaseSource): Promise<DatabasePool> {
  if (source.kind === 'postgres') {
    const pool = new pg.Pool({
      connectionString: source.url,
      max: source.maxConnections ?? 10,
      connectionTimeoutMillis: 5_000,
    });
    // An idle client losing its server must not crash the process; the next query reports it.
    pool.on('error', () => {});
    // Nor may a client checked out between two queries (a transaction under way) when the server
    // restarts: without a listener of its own its 'error' event would end the process.
    pool.on('connect', (client) => {
      client.on('error', () => {});
    });
    return wrap('postgres', new LgspPostgresDialect({ pool }), () => pool.end());
  }
  if (!source.dataDir.startsWith('memory://')) mkdirSync(source.dataDir, { recursive: true });
  const pool = await PglitePool.open(source.dataDir);
  // kysely only calls connect() and end(), which PglitePool provides.
  const dialect = new LgspPostgresDialect({ pool: pool as unknown as pg.Pool });
  return wrap('pglite', dialect, () => pool.end());
}

function wrap(
  kind: DatabaseSource['kind'],
  dialect: PostgresDialect,
  end: () => Promise<void>,
): DatabasePool {
  const root = new Kysely<Record<string, never>>({ dialect });
  let closed = false;
  return {
    kind,
    forSchema: <DB>(schema: string) => root.withSchema(schema) as unknown as Kysely<DB>,
    ping: async () => {
      await sql`select 1`.execute(root);
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await root.destroy().catch(() => end());
    },
  };
}
