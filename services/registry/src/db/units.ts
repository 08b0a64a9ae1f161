/** Queries on the unit tree. Functions take `db` or a transaction first; the handler owns the transaction. */
import { type Kysely, sql } from 'kysely';
import { foldText } from '../domain/fold.js';
import type { UnitEventRow, UnitRow } from './rows.js';
import type { RegistryDatabase, UnitEventKindName, UnitKindName, UnitStatusName } from './schema.js';

type Db = Kysely<RegistryDatabase>;

export async function findUnit(db: Db, code: string): Promise<UnitRow | undefined> {
  return db.selectFrom('units').selectAll().where('code', '=', code).executeTakeFirst();
}

export async function findUnits(db: Db, codes: readonly string[]): Promise<Map<string, UnitRow>> {
  if (codes.length === 0) return new Map();
  const rows = await db
    .selectFrom('units')
    .selectAll()
    .where('code', 'in', [...codes])
    .execute();
  return new Map(rows.map((r) => [r.code, r]));
}

/** Locks the units against concurrent lifecycle changes until the transaction ends (stable order: no deadlock). */
export async function lockUnits(trx: Db, codes: readonly string[]): Promise<Map<string, UnitRow>> {
  if (codes.length === 0) return new Map();
  const rows = await trx
    .selectFrom('units')
    .selectAll()
    .where('code', 'in', [...codes])
    .orderBy('code')
    .forUpdate()
    .execute();
  return new Map(rows.map((r) => [r.code, r]));
}

export interface NewUnitRow {
  readonly code: string;
  readonly name: string;
  readonly parentCode: string | null;
  readonly kind: UnitKindName;
  readonly zoneCode?: string | null;
}

export async function insertUnit(trx: Db, unit: NewUnitRow): Promise<UnitRow> {
  return trx
    .insertInto('units')
    .values({
      code: unit.code,
      name: unit.name,
      name_folded: foldText(unit.name),
      parent_code: unit.parentCode,
      kind: unit.kind,
      status: 'active',
      zone_code: unit.zoneCode ?? null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function setUnitStatus(
  trx: Db,
  codes: readonly string[],
  status: UnitStatusName,
): Promise<void> {
  if (codes.length === 0) return;
  await trx
    .updateTable('units')
    .set({ status, updated_at: sql<Date>`now()` })
    .where('code', 'in', [...codes])
    .execute();
}

export async function renameUnit(trx: Db, code: string, name: string): Promise<UnitRow> {
  return trx
    .updateTable('units')
    .set({ name, name_folded: foldText(name), updated_at: sql<Date>`now()` })
    .where('code', '=', code)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function reparent(trx: Db, codes: readonly string[], parentCode: string | null): Promise<void> {
  if (codes.length === 0) return;
  await trx
    .updateTable('units')
    .set({ parent_code: parentCode, updated_at: sql<Date>`now()` })
    .where('code', 'in', [...codes])
    .execute();
}

export async function activeChildren(db: Db, parentCodes: readonly string[]): Promise<UnitRow[]> {
  if (parentCodes.length === 0) return [];
  return db
    .selectFrom('units')
    .selectAll()
    .where('parent_code', 'in', [...parentCodes])
    .where('status', '=', 'active')
    .orderBy('code')
    .execute();
}

/** Codes from `code` up to its root, nearest first (excluding `code`). */
export async function ancestorCodes(db: Db, code: string): Promise<string[]> {
  // The query builder (not raw SQL) so that table names get the service's schema.
  const rows = await db
    .withRecursive('up(code, parent_code, depth)', (qb) =>
      qb
        .selectFrom('units')
        .select(['code', 'parent_code', sql<number>`0`.as('depth')])
        .where('code', '=', code)
        .unionAll((u) =>
          u
            .selectFrom('units')
            .innerJoin('up', 'up.parent_code', 'units.code')
            .select(['units.code', 'units.parent_code', sql<number>`up.depth + 1`.as('depth')])
            .where('up.depth', '<', 64),
        ),
    )
    .selectFrom('up')
    .select('code')
    .where('depth', '>', 0)
    .orderBy('depth')
    .execute();
  return rows.map((r) => r.code);
}

export interface UnitEventInput {
  readonly kind: UnitEventKindName;
  readonly fromCodes: readonly string[];
  readonly toCodes: readonly string[];
  readonly oldName?: string | null;
  readonly newName?: string | null;
  readonly decisionRef?: string;
  readonly reason?: string;
  readonly actor: string;
}

export async function insertUnitEvent(trx: Db, event: UnitEventInput): Promise<UnitEventRow> {
  return trx
    .insertInto('unit_events')
    .values({
      kind: event.kind,
      from_codes: [...event.fromCodes],
      to_codes: [...event.toCodes],
      old_name: event.oldName ?? null,
      new_name: event.newName ?? null,
      decision_ref: emptyToNull(event.decisionRef),
      reason: emptyToNull(event.reason),
      actor: event.actor,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function insertSuccessors(
  trx: Db,
  predecessors: readonly string[],
  successors: readonly string[],
  eventId: number,
): Promise<void> {
  const values = predecessors.flatMap((p) =>
    successors.map((s) => ({ predecessor_code: p, successor_code: s, event_id: eventId })),
  );
  if (values.length > 0) await trx.insertInto('unit_successors').values(values).execute();
}

export async function successorsOf(db: Db, codes: readonly string[]): Promise<Map<string, string[]>> {
  const result = new Map<string, string[]>();
  if (codes.length === 0) return result;
  const rows = await db
    .selectFrom('unit_successors')
    .select(['predecessor_code', 'successor_code'])
    .where('predecessor_code', 'in', [...codes])
    .orderBy('successor_code')
    .execute();
  for (const row of rows) {
    const list = result.get(row.predecessor_code) ?? [];
    list.push(row.successor_code);
    result.set(row.predecessor_code, list);
  }
  return result;
}

export interface ResolvedCode {
  /** Active units the code leads to today. */
  readonly current: UnitRow[];
  /** Ids of the events followed, oldest first. */
  readonly eventIds: number[];
}

/** Follows successor edges from `code` until active units (or dead ends). */
export async function resolveCode(db: Db, code: string): Promise<ResolvedCode> {
  const rows = await db
    .withRecursive('walk(code, event_id, depth)', (qb) =>
      qb
        .selectNoFrom([
          sql<string>`${code}::text`.as('code'),
          sql<number | null>`null::bigint`.as('event_id'),
          sql<number>`0`.as('depth'),
        ])
        .union((u) =>
          u
            .selectFrom('unit_successors')
            .innerJoin('walk', 'walk.code', 'unit_successors.predecessor_code')
            .select([
              'unit_successors.successor_code as code',
              'unit_successors.event_id',
              sql<number>`walk.depth + 1`.as('depth'),
            ])
            .where('walk.depth', '<', 64),
        ),
    )
    .selectFrom('walk')
    .select(['code', 'event_id', 'depth'])
    .orderBy('depth')
    .orderBy('event_id')
    .execute();
  const codes = [...new Set(rows.map((r) => r.code))];
  const units = await findUnits(db, codes);
  const current = codes.map((c) => units.get(c)).filter((u): u is UnitRow => u?.status === 'active');
  const eventIds = [...new Set(rows.flatMap((r) => (r.event_id === null ? [] : [Number(r.event_id)])))];
  return { current, eventIds };
}

export async function findEvents(db: Db, ids: readonly number[]): Promise<UnitEventRow[]> {
  if (ids.length === 0) return [];
  return db
    .selectFrom('unit_events')
    .selectAll()
    .where('id', 'in', [...ids])
    .orderBy('id')
    .execute();
}

export async function listEvents(
  db: Db,
  code: string | undefined,
  offset: number,
  limit: number,
): Promise<UnitEventRow[]> {
  let query = db.selectFrom('unit_events').selectAll();
  if (code !== undefined) {
    query = query.where((eb) =>
      eb.or([
        eb(sql`from_codes`, '@>', sql<string[]>`array[${code}]::text[]`),
        eb(sql`to_codes`, '@>', sql<string[]>`array[${code}]::text[]`),
      ]),
    );
  }
  return query.orderBy('id').offset(offset).limit(limit).execute();
}

export interface UnitSearch {
  readonly query: string;
  readonly terms: readonly string[];
  readonly codePrefix: string | undefined;
  readonly parentCode: string | undefined;
  readonly kind: UnitKindName | undefined;
  readonly includeInactive: boolean;
  readonly offset: number;
  readonly limit: number;
}

/**
 * Ranks exact code, then code prefix, then names starting with the query,
 * then names containing every word; ties by code.
 */
export async function searchUnits(db: Db, search: UnitSearch): Promise<{ rows: UnitRow[]; total: number }> {
  const folded = foldText(search.query);
  let query = db.selectFrom('units').selectAll();
  if (!search.includeInactive) query = query.where('status', '=', 'active');
  if (search.parentCode !== undefined) query = query.where('parent_code', '=', search.parentCode);
  if (search.kind !== undefined) query = query.where('kind', '=', search.kind);
  if (search.query !== '') {
    query = query.where((eb) => {
      const byName = eb.and(search.terms.map((t) => eb('name_folded', 'like', `%${escapeLike(t)}%`)));
      return search.codePrefix === undefined
        ? byName
        : eb.or([byName, eb('code', 'like', `${escapeLike(search.codePrefix)}%`)]);
    });
  }
  const rank = sql<number>`case
      when code = ${search.codePrefix ?? ''} then 0
      when ${search.codePrefix ?? null}::text is not null and code like ${`${escapeLike(search.codePrefix ?? '')}%`} then 1
      when name_folded = ${folded} then 2
      when name_folded like ${`${escapeLike(folded)}%`} then 3
      else 4 end`;
  const rows = await query
    .select([rank.as('rank'), sql<number>`count(*) over ()`.as('total')])
    .orderBy('rank')
    .orderBy('code')
    .offset(search.offset)
    .limit(search.limit)
    .execute();
  return { rows, total: Number(rows[0]?.total ?? 0) };
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

function emptyToNull(value: string | undefined): string | null {
  return value === undefined || value === '' ? null : value;
}
