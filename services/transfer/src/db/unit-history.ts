/**
 * A unit's send and receive history (Art. 5.11): the deliveries its apps
 * sent (by the transfer's source unit) or received (by the delivery's
 * destination unit), newest first.
 */
import type { Expression, ExpressionBuilder, SqlBool } from 'kysely';
import type { DeliveryRow, TransferRow } from './rows.js';
import type { DeliveryStateName, TransferDatabase } from './schema.js';
import { type Db, transfersByIds } from './transfers.js';

export interface UnitHistoryFilter {
  readonly unitCode: string;
  /** Undefined: both. */
  readonly direction: 'sent' | 'received' | undefined;
  readonly counterparty: string | undefined;
  readonly from: Date | undefined;
  readonly to: Date | undefined;
  readonly states: readonly DeliveryStateName[];
  /** Priority numbers (enum values) to keep; empty for all. */
  readonly priorities: readonly number[];
}

type Eb = ExpressionBuilder<
  TransferDatabase & { d: TransferDatabase['deliveries']; t: TransferDatabase['transfers'] },
  'd' | 't'
>;

export async function listUnitHistory(
  db: Db,
  f: UnitHistoryFilter,
  offset: number,
  limit: number,
): Promise<Array<{ delivery: DeliveryRow; transfer: TransferRow }>> {
  const side = (eb: Eb, direction: 'sent' | 'received'): Expression<SqlBool> => {
    const [own, other] =
      direction === 'sent'
        ? (['t.source_unit_code', 'd.destination_unit_code'] as const)
        : (['d.destination_unit_code', 't.source_unit_code'] as const);
    const parts = [eb(own, '=', f.unitCode)];
    if (f.counterparty !== undefined) parts.push(eb(other, '=', f.counterparty));
    return eb.and(parts);
  };
  let query = db
    .selectFrom('deliveries as d')
    .innerJoin('transfers as t', 't.id', 'd.transfer_id')
    .selectAll('d')
    .where((eb) =>
      f.direction === undefined
        ? eb.or([side(eb as Eb, 'sent'), side(eb as Eb, 'received')])
        : side(eb as Eb, f.direction),
    );
  if (f.from !== undefined) query = query.where('d.created_at', '>=', f.from);
  if (f.to !== undefined) query = query.where('d.created_at', '<', f.to);
  if (f.states.length > 0) query = query.where('d.state', 'in', [...f.states]);
  if (f.priorities.length > 0) query = query.where('d.priority', 'in', [...f.priorities]);
  const deliveries = await query
    .orderBy('d.created_at', 'desc')
    .orderBy('d.id', 'desc')
    .offset(offset)
    .limit(limit)
    .execute();
  const transfers = await transfersByIds(
    db,
    deliveries.map((d) => d.transfer_id),
  );
  return deliveries.map((delivery) => ({ delivery, transfer: transfers.get(delivery.transfer_id)! }));
}
