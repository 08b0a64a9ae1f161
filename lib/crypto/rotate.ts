/**
 * Master-key rotation: re-seals every sealed value of a service from the
 * previous master key to the new one (docs/operations.md, "Rotating the
 * master key").
 *
 * Each service lists its sealed columns (table, text primary key, bytea
 * column, the context each value was sealed with). The rotation first reads
 * every value and tries the new key, then the previous one; if any value
 * opens with neither it stops before writing anything and names it. Then it
 * walks each table in primary-key order, in batches, each batch one
 * transaction holding its rows locked, re-sealing only what the new key does
 * not open already. Running it again, or after a crash, repeats nothing that
 * was committed: a value under the new key is left alone.
 */
import { type Kysely, sql } from 'kysely';
import type { EnvReader } from '../config.js';
import { createSecretBox, type SecretBox } from './secret-box.js';

export const DEFAULT_ROTATION_BATCH = 500;

/** One bytea column of one table that holds values sealed with the master key. */
export interface SealedColumn {
  /** The table, in the service's schema. */
  readonly table: string;
  /** Its primary key, a text column; batches walk it in order. */
  readonly key: string;
  /** The sealed value; rows where it is null are skipped. */
  readonly column: string;
  /** The context the value is sealed with, from the row's key. */
  context(key: string): string;
  /** Other columns to set, to these values, in the update that re-seals a value. */
  readonly alsoSet?: Readonly<Record<string, string>>;
}

/** What the rotation found and did in one column. */
export interface ColumnReport {
  readonly name: string;
  /** Values found (not null). */
  values: number;
  /** Already under the new key, left alone. */
  current: number;
  /** Re-sealed from the previous key to the new one (0 in a dry run). */
  resealed: number;
  /** Opened with neither key. */
  unreadable: number;
  /** The keys of the first rows that open with neither key. */
  readonly unreadableKeys: string[];
}

export interface RotationOptions {
  /** Rows per transaction. */
  readonly batchSize?: number;
  /** Only check that every value opens with one of the keys; write nothing. */
  readonly dryRun?: boolean;
  /** Called after each committed batch (progress output). */
  readonly onBatch?: (report: ColumnReport) => void;
}

export class RotationError extends Error {
  override name = 'RotationError';
  constructor(
    message: string,
    readonly reports: readonly ColumnReport[],
  ) {
    super(message);
  }
}

export interface RotationKeys {
  /** The new master key (LGSP_MASTER_KEY): everything ends up sealed under it. */
  readonly current: Uint8Array;
  /** The old one (LGSP_MASTER_KEY_PREVIOUS). */
  readonly previous: Uint8Array;
}

type Outcome = { readonly kind: 'current' } | { readonly kind: 'previous'; readonly plaintext: Buffer };

/** Which key opens `sealed`: the new one first; undefined when neither does. */
function classify(
  boxes: { current: SecretBox; previous: SecretBox },
  sealed: Uint8Array,
  context: string,
): Outcome | undefined {
  try {
    boxes.current.open(sealed, context);
    return { kind: 'current' };
  } catch {
    // Not under the new key: try the previous one.
  }
  try {
    return { kind: 'previous', plaintext: boxes.previous.open(sealed, context) };
  } catch {
    return undefined;
  }
}

interface Row {
  readonly k: string;
  readonly v: Uint8Array;
}

function batchQuery(
  schema: string,
  spec: SealedColumn,
  after: string | undefined,
  limit: number,
  lock: boolean,
) {
  const table = sql.table(`${schema}.${spec.table}`);
  const key = sql.ref(spec.key);
  const column = sql.ref(spec.column);
  const from = after === undefined ? sql`true` : sql`${key} > ${after}`;
  const forUpdate = lock ? sql`for update` : sql``;
  return sql<Row>`select ${key} as k, ${column} as v from ${table}
    where ${column} is not null and ${from} order by ${key} limit ${limit} ${forUpdate}`;
}

const columnName = (spec: SealedColumn) => `${spec.table}.${spec.column}`;

/**
 * Re-seals every value of `columns` in `schema` under `keys.current`.
 * Throws `RotationError` (nothing written) when a value opens with neither
 * key; a database error during the writing pass leaves the batches before
 * it committed, and a new run resumes from there.
 */
export async function rotateSealedColumns(
  db: Kysely<unknown>,
  schema: string,
  columns: readonly SealedColumn[],
  keys: RotationKeys,
  options: RotationOptions = {},
): Promise<ColumnReport[]> {
  if (Buffer.from(keys.current).equals(Buffer.from(keys.previous))) {
    throw new RotationError('the new and the previous master keys are the same key', []);
  }
  const boxes = { current: createSecretBox(keys.current), previous: createSecretBox(keys.previous) };
  const limit = options.batchSize ?? DEFAULT_ROTATION_BATCH;

  // Pass 1, read only: every value must open with one of the two keys.
  const reports: ColumnReport[] = [];
  for (const spec of columns) {
    const report: ColumnReport = {
      name: columnName(spec),
      values: 0,
      current: 0,
      resealed: 0,
      unreadable: 0,
      unreadableKeys: [],
    };
    reports.push(report);
    let after: string | undefined;
    for (;;) {
      const { rows } = await batchQuery(schema, spec, after, limit, false).execute(db);
      for (const row of rows) {
        report.values += 1;
        const outcome = classify(boxes, row.v, spec.context(row.k));
        if (outcome === undefined) {
          report.unreadable += 1;
          if (report.unreadableKeys.length < 5) report.unreadableKeys.push(row.k);
        } else if (outcome.kind === 'current') report.current += 1;
      }
      if (rows.length < limit) break;
      after = rows[rows.length - 1]?.k;
    }
  }
  const broken = reports.filter((r) => r.unreadable > 0);
  if (broken.length > 0) {
    const named = broken.map((r) => `${r.name}: ${r.unreadable} (first: ${r.unreadableKeys.join(', ')})`);
    throw new RotationError(
      `values that open with neither LGSP_MASTER_KEY nor LGSP_MASTER_KEY_PREVIOUS, nothing was written: ${named.join('; ')}`,
      reports,
    );
  }
  if (options.dryRun) return reports;

  // Pass 2: re-seal what is still under the previous key, one transaction per batch.
  for (const [i, spec] of columns.entries()) {
    const report = reports[i] as ColumnReport;
    report.current = 0;
    report.values = 0;
    let after: string | undefined;
    for (;;) {
      const counted = await db.transaction().execute(async (trx) => {
        const { rows } = await batchQuery(schema, spec, after, limit, true).execute(trx);
        let resealed = 0;
        for (const row of rows) {
          const context = spec.context(row.k);
          const outcome = classify(boxes, row.v, context);
          if (outcome === undefined) {
            throw new RotationError(
              `${columnName(spec)} of ${row.k} opens with neither key (changed since the check); this batch was rolled back`,
              reports,
            );
          }
          if (outcome.kind === 'current') continue;
          const sealed = boxes.current.seal(outcome.plaintext, context);
          const also = Object.entries(spec.alsoSet ?? {}).map(
            ([name, value]) => sql`, ${sql.ref(name)} = ${value}`,
          );
          await sql`update ${sql.table(`${schema}.${spec.table}`)} set ${sql.ref(spec.column)} = ${sealed}${sql.join(also, sql``)}
            where ${sql.ref(spec.key)} = ${row.k}`.execute(trx);
          resealed += 1;
        }
        return { rows: rows.length, resealed, last: rows[rows.length - 1]?.k };
      });
      report.values += counted.rows;
      report.resealed += counted.resealed;
      report.current += counted.rows - counted.resealed;
      if (counted.rows > 0) options.onBatch?.(report);
      if (counted.rows < limit) break;
      after = counted.last;
    }
  }
  return reports;
}

/** LGSP_MASTER_KEY_PREVIOUS, when set: for a service's configuration. */
export function previousMasterKey(reader: EnvReader): { previousMasterKey?: Uint8Array } {
  const key = reader.base64Key('LGSP_MASTER_KEY_PREVIOUS', 32);
  return key === undefined ? {} : { previousMasterKey: key };
}
