/** Rows of the transfer schema as the API shows them. */
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { Selectable } from 'kysely';
import { type Party, PartySchema, type Priority } from '#gen/lgsp/common/v1/common_pb.js';
import {
  type Delivery,
  DeliverySchema,
  type StatusChange,
  StatusChangeSchema,
  type Transfer,
  TransferSchema,
} from '#gen/lgsp/transfer/v1/resources_pb.js';
import { toProtoPolicy } from '../domain/policy.js';
import { deliveryStates, protocols, transferStates } from '../domain/states.js';
import type { DeliveriesTable, PartyJson, StatusChangesTable, TransfersTable } from './schema.js';

export type TransferRow = Selectable<TransfersTable>;
export type DeliveryRow = Selectable<DeliveriesTable>;
export type StatusChangeRow = Selectable<StatusChangesTable>;

const time = (d: Date | null) => (d === null ? undefined : timestampFromDate(d));
const times = (fields: Record<string, Date | null>) =>
  Object.fromEntries(Object.entries(fields).flatMap(([k, d]) => (d === null ? [] : [[k, time(d)]])));

export function toParty(party: PartyJson): Party {
  return create(PartySchema, {
    party:
      'unitCode' in party
        ? { case: 'unitCode', value: party.unitCode }
        : { case: 'appId', value: party.appId },
  });
}

export function toTransfer(row: TransferRow): Transfer {
  return create(TransferSchema, {
    id: row.id,
    sourceAppId: row.source_app_id,
    sourceUnitCode: row.source_unit_code,
    recipients: row.recipients.map(toParty),
    subject: row.subject,
    priority: row.priority as Priority,
    contentType: row.content_type,
    protocol: protocols.toProto(row.protocol),
    sizeBytes: BigInt(row.size_bytes),
    sha256: row.sha256,
    idempotencyKey: row.idempotency_key ?? '',
    policy: toProtoPolicy(row.policy, row.deadline),
    state: transferStates.toProto(row.state),
    blobId: row.blob_id,
    inline: row.inline,
    contentMetadata: row.content_metadata,
    deliveryCount: row.delivery_count,
    deliveredCount: row.delivered_count,
    stateReason: row.state_reason,
    ...times({
      createTime: row.created_at,
      commitTime: row.committed_at,
      finishTime: row.finished_at,
      updateTime: row.updated_at,
    }),
  });
}

/** A delivery with the transfer facts a destination needs to decide (subject, size, digest). */
export function toDelivery(row: DeliveryRow, transfer: TransferRow): Delivery {
  return create(DeliverySchema, {
    id: row.id,
    transferId: row.transfer_id,
    recipient: toParty(row.recipient),
    destinationAppId: row.destination_app_id,
    destinationUnitCode: row.destination_unit_code,
    sourceAppId: transfer.source_app_id,
    sourceUnitCode: transfer.source_unit_code,
    subject: transfer.subject,
    priority: row.priority as Priority,
    contentType: transfer.content_type,
    protocol: protocols.toProto(transfer.protocol),
    sizeBytes: BigInt(transfer.size_bytes),
    sha256: transfer.sha256,
    state: deliveryStates.toProto(row.state),
    edxmlStatus: row.edxml_status,
    attempts: row.attempts,
    refusalReason: row.refusal_reason,
    stateReason: row.state_reason,
    ...times({
      nextAttemptTime: row.next_attempt_at,
      deadline: row.deadline,
      createTime: row.created_at,
      notifyTime: row.notified_at,
      acceptTime: row.accepted_at,
      finishTime: row.finished_at,
      updateTime: row.updated_at,
    }),
  });
}

export function toStatusChange(row: StatusChangeRow): StatusChange {
  return create(StatusChangeSchema, {
    cursor: String(row.seq),
    transferId: row.transfer_id,
    deliveryId: row.delivery_id ?? '',
    transferState: transferStates.toProto(row.transfer_state),
    ...(row.delivery_state === null ? {} : { deliveryState: deliveryStates.toProto(row.delivery_state) }),
    edxmlStatus: row.edxml_status,
    destinationAppId: row.destination_app_id,
    destinationUnitCode: row.destination_unit_code,
    actor: row.actor,
    reason: row.reason,
    occurTime: timestampFromDate(row.occurred_at),
  });
}
