/**
 * Makes PGlite (Postgres compiled to WASM, one session) look like the part of
 * a `pg.Pool` that kysely's PostgresDialect uses. PGlite has a single session,
 * so a "connection" is an exclusive lease on it: without the lease, a query of
 * one service could land inside another service's open transaction.
 *
 * Consequence for code running embedded: never await another service while
 * holding a transaction — that service would wait for the lease forever.
 */
import { PGlite, types } from '@electric-sql/pglite';

export interface PgliteLease {
  query(
    sql: string,
    params?: readonly unknown[],
  ): Promise<{ command?: string; rowCount?: number; rows: unknown[] }>;
  release(): void;
}

export class PglitePool {
  readonly db: PGlite;
  #tail: Promise<void> = Promise.resolve();
  #ended = false;

  private constructor(db: PGlite) {
    this.db = db;
  }

  /** Opens (creating if needed) a database under `dataDir`; `memory://` keeps it in memory. */
  static async open(dataDir: string): Promise<PglitePool> {
    const db = await PGlite.create(dataDir, {
      // Same representation as the pg driver is configured with (see database.ts).
      parsers: { [types.INT8]: (value: string) => Number(value) },
    });
    return new PglitePool(db);
  }

  async connect(): Promise<PgliteLease> {
    if (this.#ended) throw new Error('the embedded database is closed');
    let release!: () => void;
    const previous = this.#tail;
    this.#tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    await previous;
    let released = false;
    return {
      query: async (sql, params = []) => {
        const result = await this.db.query(sql, [...params]);
        return {
          ...(result.command === undefined ? {} : { command: result.command }),
          rowCount: result.rowCount ?? result.affectedRows ?? 0,
          rows: result.rows,
        };
      },
      release: () => {
        if (released) return;
        released = true;
        release();
      },
    };
  }

  async end(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    await this.#tail;
    await this.db.close();
  }
}
