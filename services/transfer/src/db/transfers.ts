/** Queries of transfers and deliveries. */
import { type Kysely, sql } from 'kysely';
import type { DeliveryRow, TransferRow } from './rows.js';
import type { DeliveryStateName, TransferDatabase, TransferStateName } from './schema.js';

export type Db = Kysely<TransferDatabase>;

export async function findTransfer(db: Db, id: string): Promise<TransferRow | undefined> {
  return db.selectFrom('transfers').selectAll().where('id', '=', id).executeTakeFirst();
}

/** The transfer, locked until the transaction ends: every change of a transfer and its deliveries takes this lock first. */
export async function lockTransfer(trx: Db, id: string): Promise<TransferRow | undefined> {
  return trx.selectFrom('transfers').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export async function findByIdempotencyKey(
  db: Db,
  sourceAppId: string,
  key: string,
): Promise<TransferRow | undefined> {
  return db
    .selectFrom('transfers')
    .selectAll()
    .where('source_app_id', '=', sourceAppId)
    .where('idempotency_key', '=', key)
    .executeTakeFirst();
}

export async function findDelivery(db: Db, id: string): Promise<DeliveryRow | undefined> {
  return db.selectFrom('deliveries').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function deliveriesOf(db: Db, transferId: string): Promise<DeliveryRow[]> {
  return db
    .selectFrom('deliveries')
    .selectAll()
    .where('transfer_id', '=', transferId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}

export async function updateTransfer(
  trx: Db,
  id: string,
  set: Partial<Omit<TransferRow, 'id'>>,
): Promise<TransferRow> {
  return trx
    .updateTable('transfers')
    .set({ ...set, updated_at: sql<Date>`now()` } as never)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function updateDelivery(
  trx: Db,
  id: string,
  set: Partial<Omit<DeliveryRow, 'id'>>,
): Promise<DeliveryRow> {
  return trx
    .updateTable('deliveries')
    .set({ ...set, updated_at: sql<Date>`now()` } as never)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export interface TransferFilter {
  readonly sourceAppId?: string;
  readonly sourceUnitCode?: string;
  readonly states: readonly TransferStateName[];
  readonly from?: Date;
  readonly to?: Date;
}

export async function listTransfers(
  db: Db,
  filter: TransferFilter,
  offset: number,
  limit: number,
): Promise<TransferRow[]> {
  let query = db.selectFrom('transfers').selectAll();
  if (filter.sourceAppId !== undefined) query = query.where('source_app_id', '=', filter.sourceAppId);
  if (filter.sourceUnitCode !== undefined)
    query = query.where('source_unit_code', '=', filter.sourceUnitCode);
  if (filter.states.length > 0) query = query.where('state', 'in', [...filter.states]);
  if (filter.from !== undefined) query = query.where('created_at', '>=', filter.from);
  if (filter.to !== undefined) query = query.where('created_at', '<', filter.to);
  return query.orderBy('created_at', 'desc').orderBy('id', 'desc').offset(offset).limit(limit).execute();
}

export interface PendingDelivery {
  readonly delivery: DeliveryRow;
  readonly transfer: TransferRow;
}

/** What waits for a destination (Art. 9.1): highest priority first, then oldest first. */
export async function listPending(
  db: Db,
  appId: string,
  minPriority: number,
  offset: number,
  limit: number,
): Promise<DeliveryRow[]> {
  const open: DeliveryStateName[] = ['pending', 'notified', 'accepted'];
  return db
    .selectFrom('deliveries')
    .selectAll()
    .where('destination_app_id', '=', appId)
    .where('state', 'in', open)
    .where('priority', '>=', minPriority)
    .orderBy('priority', 'desc')
    .orderBy('created_at')
    .orderBy('id')
    .offset(offset)
    .limit(limit)
    .execute();
}

export async function transfersByIds(db: Db, ids: readonly string[]): Promise<Map<string, TransferRow>> {
  if (ids.length === 0) return new Map();
  const rows = await db
    .selectFrom('transfers')
    .selectAll()
    .where('id', 'in', [...new Set(ids)])
    .execute();
  return new Map(rows.map((row) => [row.id, row]));
}

export async function countOpenTransfers(db: Db, sourceAppId: string): Promise<number> {
  const row = await db
    .selectFrom('transfers')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('source_app_id', '=', sourceAppId)
    .where('finished_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function countPending(db: Db, appId: string): Promise<number> {
  const row = await db
    .selectFrom('deliveries')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('destination_app_id', '=', appId)
    .where('state', 'in', ['pending', 'notified', 'accepted'])
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
