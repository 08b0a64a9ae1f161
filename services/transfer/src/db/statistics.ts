/**
 * The statistics store (Art. 5.12): facts keyed by what they are about, and
 * the per-day aggregates they add to. A fact is written once (its key is
 * unique); only the transaction that wrote it adds to the aggregates, so a
 * replayed or redelivered event adds nothing.
 */
import { type Kysely, sql } from 'kysely';
import { LATENCY_COLUMNS, latencyBucket } from '../domain/statistics.js';
import type { TransferDatabase } from './schema.js';

type Counter = string | number | bigint;

export interface TrafficCounters {
  packages: Counter;
  bytes: Counter;
  delivered: Counter;
  refused: Counter;
  expired: Counter;
  failed: Counter;
  cancelled: Counter;
  delivery_ms_sum: Counter;
  [bucket: `h${number}`]: Counter;
}

export interface StatDeliveriesTable {
  id: string;
  source_unit_code: string;
  destination_unit_code: string;
  day: string;
  size_bytes: string;
  planned_at: Date;
  outcome: Outcome | null;
  finished_at: Date | null;
}

export type StatUnitDailyTable = { unit_code: string; day: string; direction: Direction } & TrafficCounters;
export type StatPairDailyTable = StatUnitDailyTable & { counterparty_unit_code: string };

export interface StatPresenceEventsTable {
  app_id: string;
  transition: string;
  unit_code: string;
  state: 'online' | 'offline';
  occurred_at: Date;
}

export interface StatPresenceDailyTable {
  unit_code: string;
  day: string;
  app_id: string;
  connects: Counter;
  disconnects: Counter;
  online_ms: Counter;
}

export interface StatPresenceCurrentTable {
  app_id: string;
  unit_code: string;
  state: 'online' | 'offline';
  since: Date;
  transition: string;
}

export interface StatisticsTables {
  stat_deliveries: StatDeliveriesTable;
  stat_unit_daily: StatUnitDailyTable;
  stat_pair_daily: StatPairDailyTable;
  stat_presence_events: StatPresenceEventsTable;
  stat_presence_daily: StatPresenceDailyTable;
  stat_presence_current: StatPresenceCurrentTable;
}

export type StatsDb = Kysely<TransferDatabase & StatisticsTables>;
export const statsDb = (db: Kysely<TransferDatabase>): StatsDb => db as unknown as StatsDb;

export type Direction = 'sent' | 'received';
export type Outcome = 'delivered' | 'refused' | 'expired' | 'failed' | 'cancelled';
export const OUTCOMES: readonly Outcome[] = ['delivered', 'refused', 'expired', 'failed', 'cancelled'];

export interface DeliveryFact {
  /** The delivery id, or the transfer id of a transfer that ended before any delivery. */
  readonly id: string;
  readonly sourceUnitCode: string;
  /** Empty for a transfer without deliveries. */
  readonly destinationUnitCode: string;
  readonly day: string;
  readonly sizeBytes: string;
  readonly plannedAt: Date;
}

/** The counters a fact adds: the package itself, or its outcome (with its delivery time). */
export function delta(fields: {
  packages?: number;
  bytes?: string;
  outcome?: Outcome;
  deliveryMs?: number;
}): Partial<TrafficCounters> {
  const out: Partial<TrafficCounters> = {};
  if (fields.packages !== undefined) out.packages = fields.packages;
  if (fields.bytes !== undefined) out.bytes = fields.bytes;
  if (fields.outcome !== undefined) out[fields.outcome] = 1;
  if (fields.outcome === 'delivered' && fields.deliveryMs !== undefined) {
    const ms = Math.max(0, Math.round(fields.deliveryMs));
    out.delivery_ms_sum = ms;
    out[LATENCY_COLUMNS[latencyBucket(ms)] as `h${number}`] = 1;
  }
  return out;
}

/** Records a fact unless it exists; true when this call wrote it. */
export async function insertFact(db: StatsDb, fact: DeliveryFact): Promise<boolean> {
  const row = await db
    .insertInto('stat_deliveries')
    .values({
      id: fact.id,
      source_unit_code: fact.sourceUnitCode,
      destination_unit_code: fact.destinationUnitCode,
      day: fact.day,
      size_bytes: fact.sizeBytes,
      planned_at: fact.plannedAt,
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}

/** Sets a fact's outcome unless it has one; the fact when this call set it. */
export async function settleFact(
  db: StatsDb,
  id: string,
  outcome: Outcome,
  finishedAt: Date,
): Promise<StatDeliveriesTable | undefined> {
  return db
    .updateTable('stat_deliveries')
    .set({ outcome, finished_at: finishedAt })
    .where('id', '=', id)
    .where('outcome', 'is', null)
    .returningAll()
    .executeTakeFirst();
}

/**
 * Adds `counters` to both sides of a fact: the source unit's sent traffic and
 * the destination unit's received traffic, in total and per counterparty.
 */
export async function addTraffic(
  db: StatsDb,
  fact: Pick<StatDeliveriesTable, 'source_unit_code' | 'destination_unit_code' | 'day'>,
  counters: Partial<TrafficCounters>,
): Promise<void> {
  const sides: Array<{ unit: string; direction: Direction; counterparty: string }> = [
    { unit: fact.source_unit_code, direction: 'sent', counterparty: fact.destination_unit_code },
  ];
  if (fact.destination_unit_code !== '') {
    sides.push({
      unit: fact.destination_unit_code,
      direction: 'received',
      counterparty: fact.source_unit_code,
    });
  }
  const names = Object.keys(counters) as Array<keyof TrafficCounters>;
  for (const side of sides) {
    const key = { unit_code: side.unit, day: fact.day, direction: side.direction };
    await db
      .insertInto('stat_unit_daily')
      .values({ ...key, ...counters } as never)
      .onConflict((oc) =>
        oc
          .columns(['unit_code', 'day', 'direction'])
          .doUpdateSet(increments('stat_unit_daily', names) as never),
      )
      .execute();
    await db
      .insertInto('stat_pair_daily')
      .values({ ...key, counterparty_unit_code: side.counterparty, ...counters } as never)
      .onConflict((oc) =>
        oc
          .columns(['unit_code', 'day', 'direction', 'counterparty_unit_code'])
          .doUpdateSet(increments('stat_pair_daily', names) as never),
      )
      .execute();
  }
}

function increments(
  table: 'stat_unit_daily' | 'stat_pair_daily',
  names: ReadonlyArray<keyof TrafficCounters>,
): Record<string, unknown> {
  const set: Record<string, unknown> = {};
  for (const name of names) {
    set[name as string] =
      sql`${sql.ref(`${table}.${String(name)}`)} + ${sql.ref(`excluded.${String(name)}`)}`;
  }
  return set;
}

// ---------------------------------------------------------------------------
// Presence

export interface PresenceFact {
  readonly appId: string;
  readonly unitCode: string;
  readonly transition: string;
  readonly state: 'online' | 'offline';
  readonly occurredAt: Date;
}

/** Records a transition unless it exists; true when this call wrote it. */
export async function insertPresenceFact(db: StatsDb, fact: PresenceFact): Promise<boolean> {
  const row = await db
    .insertInto('stat_presence_events')
    .values({
      app_id: fact.appId,
      transition: fact.transition,
      unit_code: fact.unitCode,
      state: fact.state,
      occurred_at: fact.occurredAt,
    })
    .onConflict((oc) => oc.columns(['app_id', 'transition']).doNothing())
    .returning('app_id')
    .executeTakeFirst();
  if (row === undefined) return false;
  await db
    .insertInto('stat_presence_current')
    .values({
      app_id: fact.appId,
      unit_code: fact.unitCode,
      state: fact.state,
      since: fact.occurredAt,
      transition: fact.transition,
    })
    .onConflict((oc) =>
      oc
        .column('app_id')
        .doUpdateSet({
          unit_code: fact.unitCode,
          state: fact.state,
          since: fact.occurredAt,
          transition: fact.transition,
        })
        .where('stat_presence_current.transition', '<', fact.transition),
    )
    .execute();
  return true;
}

export async function addPresence(
  db: StatsDb,
  key: { unitCode: string; day: string; appId: string },
  counters: { connects?: number; disconnects?: number; onlineMs?: number },
): Promise<void> {
  const values = {
    unit_code: key.unitCode,
    day: key.day,
    app_id: key.appId,
    connects: counters.connects ?? 0,
    disconnects: counters.disconnects ?? 0,
    online_ms: counters.onlineMs ?? 0,
  };
  await db
    .insertInto('stat_presence_daily')
    .values(values)
    .onConflict((oc) =>
      oc.columns(['unit_code', 'day', 'app_id']).doUpdateSet((eb) => ({
        connects: eb('stat_presence_daily.connects', '+', eb.ref('excluded.connects')),
        disconnects: eb('stat_presence_daily.disconnects', '+', eb.ref('excluded.disconnects')),
        online_ms: eb('stat_presence_daily.online_ms', '+', eb.ref('excluded.online_ms')),
      })),
    )
    .execute();
}
