/**
 * Every state change of transfers and deliveries goes through here, inside a
 * transaction that holds the transfer's lock: the row changes, the history
 * gets its entry, the source gets its event, and once the last delivery is
 * final the transfer settles and its content is marked for purge (Art. 5.3).
 */
import { sql } from 'kysely';
import { isFinalDelivery, transferOutcome } from '../domain/states.js';
import { type ChangeFacts, recordChange } from './history.js';
import type { DeliveryRow, TransferRow } from './rows.js';
import type { DeliveryStateName, TransferStateName } from './schema.js';
import { type Db, deliveriesOf, updateDelivery, updateTransfer } from './transfers.js';

export interface Moved {
  readonly transfer: TransferRow;
  readonly delivery: DeliveryRow;
}

export async function moveTransfer(
  trx: Db,
  prefix: string,
  transfer: TransferRow,
  state: TransferStateName,
  facts: ChangeFacts,
  set: Partial<TransferRow> = {},
): Promise<TransferRow> {
  const final = ['delivered', 'partially_delivered', 'refused', 'expired', 'cancelled', 'failed'].includes(
    state,
  );
  const updated = await updateTransfer(trx, transfer.id, {
    ...set,
    state,
    ...(final
      ? { finished_at: sql<Date>`now()` as never, purge_due: true, state_reason: facts.reason ?? '' }
      : {}),
  });
  await recordChange(trx, prefix, updated, undefined, facts);
  return updated;
}

export async function moveDelivery(
  trx: Db,
  prefix: string,
  transfer: TransferRow,
  delivery: DeliveryRow,
  state: DeliveryStateName,
  facts: ChangeFacts,
  set: Partial<DeliveryRow> = {},
): Promise<Moved> {
  const final = isFinalDelivery(state);
  const updated = await updateDelivery(trx, delivery.id, {
    ...set,
    state,
    ...(final ? { finished_at: sql<Date>`now()` as never, next_attempt_at: null } : {}),
    ...(facts.reason === undefined ? {} : { state_reason: facts.reason.slice(0, 1000) }),
  });
  let current = transfer;
  if (state === 'delivered' && delivery.state !== 'delivered') {
    current = await updateTransfer(trx, transfer.id, { delivered_count: transfer.delivered_count + 1 });
  }
  await recordChange(trx, prefix, current, updated, facts);
  if (final) current = await settle(trx, prefix, current);
  return { transfer: current, delivery: updated };
}

/** Ends the transfer once every delivery is final. */
async function settle(trx: Db, prefix: string, transfer: TransferRow): Promise<TransferRow> {
  if (transfer.finished_at !== null) return transfer;
  const outcome = transferOutcome((await deliveriesOf(trx, transfer.id)).map((d) => d.state));
  if (outcome === undefined) return transfer;
  return moveTransfer(trx, prefix, transfer, outcome, { actor: 'platform', reason: outcomeReason(outcome) });
}

function outcomeReason(state: TransferStateName): string {
  switch (state) {
    case 'delivered':
      return 'every recipient confirmed receipt';
    case 'partially_delivered':
      return 'some recipients confirmed receipt; the others refused, expired or failed';
    case 'refused':
      return 'every recipient refused';
    case 'cancelled':
      return 'cancelled by the source';
    case 'expired':
      return 'the deadline passed before every recipient confirmed';
    default:
      return 'no recipient received it';
  }
}
