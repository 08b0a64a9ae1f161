/**
 * Reports over the statistics aggregates (Art. 5.12): sums per unit and
 * period (and counterparty) done by Postgres over the per-day rows, so a
 * year of one unit is about 730 rows and of a whole province a few hundred
 * thousand at most, read through the (unit_code, day) keys or the day index.
 */
import { sql } from 'kysely';
import {
  dayOf,
  dayStart,
  LATENCY_COLUMNS,
  type PeriodKind,
  periodOf,
  periodsOf,
  splitByDay,
} from '../domain/statistics.js';
import type { Direction, StatsDb } from './statistics.js';

export interface ReportQuery {
  /** Undefined: every unit. */
  readonly units: readonly string[] | undefined;
  readonly from: string;
  readonly to: string;
  readonly period: PeriodKind;
  readonly byCounterparty: boolean;
  readonly counterparty: string | undefined;
  /** Minutes east of UTC of the statistics' days. */
  readonly offsetMinutes: number;
  readonly now: number;
}

export interface TrafficFigures {
  packages: number;
  bytes: bigint;
  delivered: number;
  refused: number;
  expired: number;
  failed: number;
  cancelled: number;
  deliveryMsSum: number;
  histogram: number[];
}

export interface ConnectionFigures {
  connects: number;
  disconnects: number;
  onlineMs: number;
  appCount: number;
  /** The part of the period that has begun, times the apps: what online time is a share of. */
  possibleMs: number;
}

export interface ReportRow {
  unitCode: string;
  periodStart: string;
  periodEnd: string;
  counterparty: string;
  sent: TrafficFigures;
  received: TrafficFigures;
  connection: ConnectionFigures | undefined;
}

export const emptyTraffic = (): TrafficFigures => ({
  packages: 0,
  bytes: 0n,
  delivered: 0,
  refused: 0,
  expired: 0,
  failed: 0,
  cancelled: 0,
  deliveryMsSum: 0,
  histogram: LATENCY_COLUMNS.map(() => 0),
});

const SUMMED = [
  'packages',
  'bytes',
  'delivered',
  'refused',
  'expired',
  'failed',
  'cancelled',
  'delivery_ms_sum',
];

export async function buildReport(db: StatsDb, q: ReportQuery): Promise<ReportRow[]> {
  const rows = new Map<string, ReportRow>();
  const rowFor = (unit: string, periodDay: string, counterparty: string): ReportRow => {
    const [start, end] = periodOf(periodDay, q.period, q.from, q.to);
    const key = `${unit}\u0000${start}\u0000${counterparty}`;
    let row = rows.get(key);
    if (row === undefined) {
      row = {
        unitCode: unit,
        periodStart: start,
        periodEnd: end,
        counterparty,
        sent: emptyTraffic(),
        received: emptyTraffic(),
        connection: q.byCounterparty ? undefined : emptyConnection(),
      };
      rows.set(key, row);
    }
    return row;
  };
  const periodExpr =
    q.period === 'day'
      ? sql<string>`to_char(day, 'YYYY-MM-DD')`
      : q.period === 'month'
        ? sql<string>`to_char(date_trunc('month', day), 'YYYY-MM-DD')`
        : sql<string>`${q.from}::text`;

  // Traffic.
  const table = q.byCounterparty ? 'stat_pair_daily' : 'stat_unit_daily';
  let trafficQuery = db
    .selectFrom(table as 'stat_pair_daily')
    .select([
      'unit_code',
      'direction',
      (q.byCounterparty ? sql<string>`counterparty_unit_code` : sql<string>`''`).as('counterparty'),
      periodExpr.as('period'),
      ...[...SUMMED, ...LATENCY_COLUMNS].map((c) => sql<string>`sum(${sql.ref(c)})::text`.as(c)),
    ])
    .where(sql<boolean>`day between ${q.from}::date and ${q.to}::date`);
  if (q.units !== undefined)
    trafficQuery = trafficQuery.where('unit_code', '=', sql<string>`any(${[...q.units]}::text[])`);
  if (q.counterparty !== undefined)
    trafficQuery = trafficQuery.where('counterparty_unit_code', '=', q.counterparty);
  const traffic = {
    rows: (await trafficQuery.groupBy([sql`1`, sql`2`, sql`3`, sql`4`]).execute()) as unknown as Array<
      Record<string, string>
    >,
  };
  for (const r of traffic.rows) {
    const row = rowFor(r['unit_code']!, r['period']!, r['counterparty']!);
    const figures = (r['direction'] as Direction) === 'sent' ? row.sent : row.received;
    figures.packages += Number(r['packages']);
    figures.bytes += BigInt(r['bytes'] ?? '0');
    figures.delivered += Number(r['delivered']);
    figures.refused += Number(r['refused']);
    figures.expired += Number(r['expired']);
    figures.failed += Number(r['failed']);
    figures.cancelled += Number(r['cancelled']);
    figures.deliveryMsSum += Number(r['delivery_ms_sum']);
    LATENCY_COLUMNS.forEach((c, i) => {
      figures.histogram[i]! += Number(r[c]);
    });
  }

  if (!q.byCounterparty) {
    // Units named: a row for every period even when nothing happened.
    for (const unit of q.units ?? []) {
      for (const [start] of periodsOf(q.period, q.from, q.to)) rowFor(unit, start, '');
    }
    await addConnections(db, q, periodExpr, rowFor);
  }

  return [...rows.values()].sort(
    (a, b) =>
      cmp(a.unitCode, b.unitCode) || cmp(a.periodStart, b.periodStart) || cmp(a.counterparty, b.counterparty),
  );
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

const emptyConnection = (): ConnectionFigures => ({
  connects: 0,
  disconnects: 0,
  onlineMs: 0,
  appCount: 0,
  possibleMs: 0,
});

async function addConnections(
  db: StatsDb,
  q: ReportQuery,
  periodExpr: ReturnType<typeof sql<string>>,
  rowFor: (unit: string, periodDay: string, counterparty: string) => ReportRow,
): Promise<void> {
  let presenceQuery = db
    .selectFrom('stat_presence_daily')
    .select([
      'unit_code',
      periodExpr.as('period'),
      sql<string>`sum(connects)::text`.as('c'),
      sql<string>`sum(disconnects)::text`.as('d'),
      sql<string>`sum(online_ms)::text`.as('ms'),
    ])
    .where(sql<boolean>`day between ${q.from}::date and ${q.to}::date`);
  if (q.units !== undefined)
    presenceQuery = presenceQuery.where('unit_code', '=', sql<string>`any(${[...q.units]}::text[])`);
  const presence = { rows: await presenceQuery.groupBy([sql`1`, sql`2`]).execute() };
  for (const r of presence.rows) {
    const connection = rowFor(r.unit_code, r.period, '').connection!;
    connection.connects += Number(r.c);
    connection.disconnects += Number(r.d);
    connection.onlineMs += Number(r.ms);
  }
  // Every app seen, and the online spells still open: they count up to now.
  let current = db.selectFrom('stat_presence_current').select(['app_id', 'unit_code', 'state', 'since']);
  if (q.units !== undefined)
    current = current.where('unit_code', 'in', q.units.length > 0 ? [...q.units] : ['']);
  const apps = await current.execute();
  const appCount = new Map<string, number>();
  const rangeStart = dayStart(q.from, q.offsetMinutes);
  const rangeEnd = Math.min(q.now, dayStart(addOneDay(q.to), q.offsetMinutes));
  for (const app of apps) {
    appCount.set(app.unit_code, (appCount.get(app.unit_code) ?? 0) + 1);
    if (app.state !== 'online') continue;
    const start = Math.max(app.since.getTime(), rangeStart);
    for (const part of splitByDay(start, rangeEnd, q.offsetMinutes)) {
      rowFor(app.unit_code, part.day, '').connection!.onlineMs += part.ms;
    }
  }
  // Only rows of units that have connection figures or were asked for exist by now.
  const seen = new Set<ReportRow>();
  for (const app of apps) {
    for (const [start] of periodsOf(q.period, q.from, q.to)) {
      const row = rowFor(app.unit_code, start, '');
      if (seen.has(row)) continue;
      seen.add(row);
      const connection = row.connection!;
      connection.appCount = appCount.get(app.unit_code) ?? 0;
      const begin = dayStart(row.periodStart, q.offsetMinutes);
      const end = Math.min(q.now, dayStart(addOneDay(row.periodEnd), q.offsetMinutes));
      connection.possibleMs = Math.max(0, end - begin) * connection.appCount;
    }
  }
}

function addOneDay(day: string): string {
  return dayOf(Date.parse(`${day}T00:00:00Z`) + 86_400_000, 0);
}
