/**
 * A year of statistics answers in well under a second (Art. 5.12): a year of
 * synthetic per-day aggregates for a province's units, then the reports an
 * administrator asks for, timed. Also times the consumer's write path (one
 * fact and its aggregates per transaction). Prints the numbers.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DatabasePool, openDatabase } from '#lib/db/database.js';
import { migrateToLatest } from '#lib/db/migrate.js';
import { dropSchemas } from '../../../test/support/cleanup.js';
import { TEST_DATABASE_URL, uniqueName } from '../../../test/support/env.js';
import { migrations } from '../src/db/migrations/index.js';
import type { TransferDatabase } from '../src/db/schema.js';
import { addTraffic, delta, insertFact, type StatsDb, settleFact, statsDb } from '../src/db/statistics.js';
import { buildReport, type ReportQuery } from '../src/db/statistics-report.js';

const UNITS = 120;
const COUNTERPARTIES = 8;
const schema = uniqueName('statyear');
let pool: DatabasePool;
let db: StatsDb;

const unit = (i: number) =>
  `000.${String(10 + Math.floor(i / 100)).padStart(2, '0')}.${String(i % 100).padStart(2, '0')}.H26`;

beforeAll(async () => {
  pool = await openDatabase({ kind: 'postgres', url: TEST_DATABASE_URL });
  const kdb = pool.forSchema<TransferDatabase>(schema);
  await migrateToLatest(kdb as never, schema, migrations);
  db = statsDb(kdb);
  const h = Array.from({ length: 22 }, (_, i) => `h${String(i).padStart(2, '0')}`);
  const cols = sql.raw(
    ['packages', 'bytes', 'delivered', 'refused', 'expired', 'delivery_ms_sum', ...h].join(', '),
  );
  const values = sql.raw(
    [
      '40',
      '40 * 250000',
      '36',
      '2',
      '2',
      '36 * 90000',
      ...h.map((_, i) => (i === 5 ? '30' : i === 9 ? '6' : '0')),
    ].join(', '),
  );
  const days = sql`generate_series(date '2025-01-01', date '2025-12-31', interval '1 day')`;
  const units = sql`(select '000.' || lpad((10 + i / 100)::text, 2, '0') || '.' || lpad((i % 100)::text, 2, '0') || '.H26' as code, i from generate_series(0, ${UNITS - 1}) i)`;
  await sql`insert into ${sql.table(`${schema}.stat_unit_daily`)} (unit_code, day, direction, ${cols})
    select u.code, d::date, dir, ${values} from ${units} u, ${days} d, unnest(array['sent','received']) dir`.execute(
    kdb,
  );
  await sql`insert into ${sql.table(`${schema}.stat_pair_daily`)} (unit_code, day, direction, counterparty_unit_code, ${cols})
    select u.code, d::date, dir, '000.99.' || lpad(c::text, 2, '0') || '.H26', ${values}
    from ${units} u, ${days} d, unnest(array['sent','received']) dir, generate_series(1, ${COUNTERPARTIES}) c`.execute(
    kdb,
  );
  await sql`insert into ${sql.table(`${schema}.stat_presence_daily`)} (unit_code, day, app_id, connects, disconnects, online_ms)
    select u.code, d::date, 'app_' || lpad(to_hex(u.i), 16, '0'), 3, 3, 80000000 from ${units} u, ${days} d`.execute(
    kdb,
  );
  await sql`analyze`.execute(kdb);
}, 180_000);

afterAll(async () => {
  await pool?.close();
  await dropSchemas([schema]);
});

const base: Omit<ReportQuery, 'units' | 'period' | 'byCounterparty'> = {
  from: '2025-01-01',
  to: '2025-12-31',
  counterparty: undefined,
  offsetMinutes: 420,
  now: Date.parse('2026-01-01T00:00:00Z'),
};

async function timed(q: ReportQuery): Promise<{ ms: number; rows: number }> {
  await buildReport(db, q); // warm
  const runs: number[] = [];
  let rows = 0;
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    rows = (await buildReport(db, q)).length;
    runs.push(performance.now() - t);
  }
  runs.sort((a, b) => a - b);
  return { ms: runs[2]!, rows };
}

describe(`a year of aggregates (${UNITS} units, ${COUNTERPARTIES} counterparties each)`, () => {
  // Timings are printed, not asserted: a loaded machine would make them flaky (the figures are in the docs).
  it('answers the reports over a year of aggregates, correctly', async () => {
    const cases: Array<[string, ReportQuery]> = [
      ['one unit, the year by month', { ...base, units: [unit(7)], period: 'month', byCounterparty: false }],
      [
        'one unit, the year by counterparty',
        { ...base, units: [unit(7)], period: 'range', byCounterparty: true },
      ],
      ['every unit, the year', { ...base, units: undefined, period: 'range', byCounterparty: false }],
      [
        'every unit, the year by month',
        { ...base, units: undefined, period: 'month', byCounterparty: false },
      ],
    ];
    for (const [what, q] of cases) {
      const { ms, rows } = await timed(q);
      console.log(`report: ${what}: ${rows} rows in ${ms.toFixed(1)} ms (median of 5)`);
      expect(rows).toBeGreaterThan(0);
    }
    const [one] = await buildReport(db, {
      ...base,
      units: [unit(7)],
      period: 'range',
      byCounterparty: false,
    });
    expect(one?.sent.packages).toBe(40 * 365);
    expect(one?.connection?.connects).toBe(3 * 365);
  }, 120_000);

  it('writes facts at a measured rate', async () => {
    const N = 1000;
    const t = performance.now();
    for (let i = 0; i < N; i++) {
      const fact = {
        id: `dlv_${String(i).padStart(16, '0')}`,
        sourceUnitCode: unit(i % UNITS),
        destinationUnitCode: unit((i + 1) % UNITS),
        day: '2026-01-02',
        sizeBytes: '1000',
        plannedAt: new Date('2026-01-02T01:00:00Z'),
      };
      const sides = {
        source_unit_code: fact.sourceUnitCode,
        destination_unit_code: fact.destinationUnitCode,
        day: fact.day,
      };
      await db.transaction().execute(async (trx) => {
        if (await insertFact(trx, fact)) await addTraffic(trx, sides, delta({ packages: 1, bytes: '1000' }));
      });
      await db.transaction().execute(async (trx) => {
        if (await settleFact(trx, fact.id, 'delivered', new Date('2026-01-02T01:00:05Z')))
          await addTraffic(trx, sides, delta({ outcome: 'delivered', deliveryMs: 5000 }));
      });
    }
    const perSecond = (2 * N) / ((performance.now() - t) / 1000);
    console.log(`consumer write path: ${perSecond.toFixed(0)} events per second (one at a time)`);
    const [row] = await buildReport(db, {
      ...base,
      from: '2026-01-02',
      to: '2026-01-02',
      units: [unit(0)],
      period: 'range',
      byCounterparty: false,
    });
    expect([row?.sent.packages, row?.sent.delivered]).toEqual([Math.ceil(N / UNITS), Math.ceil(N / UNITS)]);
  }, 120_000);
});
