/**
 * The append-only status history (Art. 8.5, 9.3) and the events announcing
 * it. A change, its history row and its event are written in the caller's
 * transaction, so none exists without the others.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { type Counter, metrics } from '@opentelemetry/api';
import {
  type DeliveryOffered,
  DeliveryOfferedSchema,
  StatusChangedSchema,
} from '#gen/lgsp/transfer/v1/events_pb.js';
import { enqueueEvent } from '#lib/db/outbox.js';
import { subjectOf } from '#lib/infra.js';
import { type DeliveryRow, type StatusChangeRow, type TransferRow, toStatusChange } from './rows.js';
import type { Db } from './transfers.js';

export const transferSubjects = (prefix: string) => ({
  offered: (appId: string) => subjectOf(prefix, 'transfer', 'offered', appId),
  status: (sourceAppId: string) => subjectOf(prefix, 'transfer', 'status', sourceAppId),
  offline: (sourceAppId: string) => subjectOf(prefix, 'transfer', 'offline', sourceAppId),
});

export interface ChangeFacts {
  /** Who caused it: an app id, an operator subject, or `platform`. */
  readonly actor: string;
  readonly reason?: string;
  readonly edxmlStatus?: number;
  /**
   * Whether the source is told through its StatusChanged event; default: as
   * its policy asks. A warning that changes no state (the destination is
   * offline) reaches the source by an event of its own instead.
   */
  readonly notifySource?: boolean;
}

/** Records a change of `transfer` (and of `delivery`, when given) and announces it to the source. */
/**
 * Counted when written; a transaction that rolls back afterwards leaves its
 * count (rare: retries). Made on first use: the metrics API has no proxy, so
 * an instrument made before the process sets its meter provider would count nothing.
 */
let stateChangeCounter: Counter | undefined;
const stateChanges = (): Counter =>
  (stateChangeCounter ??= metrics.getMeter('lgsp.transfer').createCounter('lgsp_transfer_state_changes', {
    description: 'State changes of transfers and deliveries, by object and the state entered',
  }));

export async function recordChange(
  trx: Db,
  prefix: string,
  transfer: TransferRow,
  delivery: DeliveryRow | undefined,
  facts: ChangeFacts,
): Promise<StatusChangeRow> {
  const row = await trx
    .insertInto('status_changes')
    .values({
      source_app_id: transfer.source_app_id,
      transfer_id: transfer.id,
      delivery_id: delivery?.id ?? null,
      transfer_state: transfer.state,
      delivery_state: delivery?.state ?? null,
      edxml_status: facts.edxmlStatus ?? 0,
      destination_app_id: delivery?.destination_app_id ?? '',
      destination_unit_code: delivery?.destination_unit_code ?? '',
      actor: facts.actor,
      reason: (facts.reason ?? '').slice(0, 1000),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  stateChanges().add(
    1,
    delivery === undefined
      ? { object: 'transfer', state: transfer.state }
      : { object: 'delivery', state: delivery.state },
  );
  const policy = transfer.policy;
  // Statuses 01 and 02 come with confirm and refuse; later ones are business reports.
  const businessReport = (facts.edxmlStatus ?? 0) > 2;
  const notifySource =
    facts.notifySource ??
    (businessReport
      ? policy.notifyBusinessStatus
      : delivery === undefined
        ? transfer.finished_at !== null
        : policy.notifyOn.includes(delivery.state));
  await enqueueEvent(trx, {
    subject: transferSubjects(prefix).status(transfer.source_app_id),
    payload: toBinary(
      StatusChangedSchema,
      create(StatusChangedSchema, {
        change: toStatusChange(row),
        sourceAppId: transfer.source_app_id,
        notifySource,
      }),
    ),
  });
  return row;
}

/** Announces an offer to the destination (Art. 9.1). */
export async function recordOffer(trx: Db, prefix: string, offer: DeliveryOffered): Promise<void> {
  const appId = offer.delivery?.destinationAppId ?? '';
  await enqueueEvent(trx, {
    subject: transferSubjects(prefix).offered(appId),
    payload: toBinary(DeliveryOfferedSchema, offer),
    headers: { 'lgsp-priority': String(offer.delivery?.priority ?? 0) },
  });
}

export function newOffer(fields: {
  delivery: DeliveryOffered['delivery'];
  inlineContent?: Uint8Array;
}): DeliveryOffered {
  return create(DeliveryOfferedSchema, {
    ...(fields.delivery === undefined ? {} : { delivery: fields.delivery }),
    ...(fields.inlineContent === undefined ? {} : { inlineContent: fields.inlineContent }),
  });
}

export async function changesSince(
  db: Db,
  sourceAppId: string,
  after: bigint,
  limit: number,
): Promise<StatusChangeRow[]> {
  return db
    .selectFrom('status_changes')
    .selectAll()
    .where('source_app_id', '=', sourceAppId)
    .where('seq', '>', String(after))
    .orderBy('seq')
    .limit(limit)
    .execute();
}

/** A cursor just before the source's first change at or after `since`. */
export async function cursorBefore(db: Db, sourceAppId: string, since: Date): Promise<bigint> {
  const row = await db
    .selectFrom('status_changes')
    .select((eb) => eb.fn.max('seq').as('seq'))
    .where('source_app_id', '=', sourceAppId)
    .where('occurred_at', '<', since)
    .executeTakeFirst();
  return row?.seq === null || row?.seq === undefined ? 0n : BigInt(row.seq);
}

export async function historyOf(db: Db, transferId: string, deliveryId?: string): Promise<StatusChangeRow[]> {
  let query = db.selectFrom('status_changes').selectAll().where('transfer_id', '=', transferId);
  if (deliveryId !== undefined) {
    query = query.where((eb) => eb.or([eb('delivery_id', '=', deliveryId), eb('delivery_id', 'is', null)]));
  }
  return query.orderBy('seq').execute();
}
