/**
 * The states of transfers and deliveries (Art. 8, 9), how they are named in
 * the database and on the wire, and the one rule that derives a transfer's
 * outcome from its deliveries.
 */
import {
  DeliveryState,
  EdxmlStatusCode,
  TransferProtocol,
  TransferState,
} from '#gen/lgsp/transfer/v1/resources_pb.js';
import { enumMap } from '#lib/db/enum-map.js';
import type { DeliveryStateName, ProtocolName, TransferStateName } from '../db/schema.js';

export const transferStates = enumMap<TransferStateName, TransferState>({
  requested: TransferState.REQUESTED,
  uploading: TransferState.UPLOADING,
  committed: TransferState.COMMITTED,
  delivering: TransferState.DELIVERING,
  delivered: TransferState.DELIVERED,
  partially_delivered: TransferState.PARTIALLY_DELIVERED,
  refused: TransferState.REFUSED,
  expired: TransferState.EXPIRED,
  cancelled: TransferState.CANCELLED,
  failed: TransferState.FAILED,
});

export const deliveryStates = enumMap<DeliveryStateName, DeliveryState>({
  pending: DeliveryState.PENDING,
  notified: DeliveryState.NOTIFIED,
  accepted: DeliveryState.ACCEPTED,
  delivered: DeliveryState.DELIVERED,
  refused: DeliveryState.REFUSED,
  expired: DeliveryState.EXPIRED,
  cancelled: DeliveryState.CANCELLED,
  failed: DeliveryState.FAILED,
});

export const protocols = enumMap<ProtocolName, TransferProtocol>({
  edxml: TransferProtocol.EDXML,
  edxml_status: TransferProtocol.EDXML_STATUS,
  plain_data: TransferProtocol.PLAIN_DATA,
});

/** Before commit: the source may still upload, and the upload space may expire. */
export const UPLOADING_STATES: readonly TransferStateName[] = ['requested', 'uploading'];

export const FINAL_TRANSFER_STATES: readonly TransferStateName[] = [
  'delivered',
  'partially_delivered',
  'refused',
  'expired',
  'cancelled',
  'failed',
];

/** Deliveries still offered to their destination. */
export const OPEN_DELIVERY_STATES: readonly DeliveryStateName[] = ['pending', 'notified', 'accepted'];

export const FINAL_DELIVERY_STATES: readonly DeliveryStateName[] = [
  'delivered',
  'refused',
  'expired',
  'cancelled',
  'failed',
];

export const isFinalTransfer = (state: TransferStateName): boolean => FINAL_TRANSFER_STATES.includes(state);
export const isFinalDelivery = (state: DeliveryStateName): boolean => FINAL_DELIVERY_STATES.includes(state);

/**
 * The transfer's state once every delivery is final; undefined while one is
 * still open. Any confirmation makes it (partially) delivered; otherwise the
 * most telling cause wins: all refused, then cancelled, then expired.
 */
export function transferOutcome(states: readonly DeliveryStateName[]): TransferStateName | undefined {
  if (states.length === 0 || states.some((s) => !isFinalDelivery(s))) return undefined;
  const delivered = states.filter((s) => s === 'delivered').length;
  if (delivered === states.length) return 'delivered';
  if (delivered > 0) return 'partially_delivered';
  if (states.every((s) => s === 'refused')) return 'refused';
  if (states.includes('cancelled')) return 'cancelled';
  if (states.includes('expired')) return 'expired';
  return 'failed';
}

/** The edXML statuses a destination may report about a delivered document, and when. */
export const BUSINESS_STATUSES: ReadonlySet<EdxmlStatusCode> = new Set([
  EdxmlStatusCode.ACCEPTED,
  EdxmlStatusCode.ASSIGNED,
  EdxmlStatusCode.PROCESSING,
  EdxmlStatusCode.COMPLETED,
]);
export const RECALL_ANSWERS: ReadonlySet<EdxmlStatusCode> = new Set([
  EdxmlStatusCode.RECALL_AGREED,
  EdxmlStatusCode.RECALL_REFUSED,
]);
