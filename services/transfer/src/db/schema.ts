/** Tables of the transfer service's schema, one type per table. */
import type { Generated } from 'kysely';
import type { OutboxTable } from '#lib/db/outbox.js';

export type TransferStateName =
  | 'requested'
  | 'uploading'
  | 'committed'
  | 'delivering'
  | 'delivered'
  | 'partially_delivered'
  | 'refused'
  | 'expired'
  | 'cancelled'
  | 'failed';

export type DeliveryStateName =
  | 'pending'
  | 'notified'
  | 'accepted'
  | 'delivered'
  | 'refused'
  | 'expired'
  | 'cancelled'
  | 'failed';

export type ProtocolName = 'edxml' | 'edxml_status' | 'plain_data';

/** A recipient as the source named it. */
export type PartyJson = { readonly unitCode: string } | { readonly appId: string };

/** One receiving app the registry routed a recipient to, fixed at request time. */
export interface RouteJson {
  /** Index of the recipient in `recipients` it came from. */
  readonly recipient: number;
  readonly appId: string;
  readonly unitCode: string;
}

/** The delivery policy in force, defaults filled in. */
export interface PolicyJson {
  /** ISO time; unset until commit when the source named none (then commit + default). */
  readonly deadline?: string;
  readonly maxAttempts: number;
  readonly offlineThresholdSeconds: number;
  readonly notifyOn: readonly DeliveryStateName[];
  readonly notifyBusinessStatus: boolean;
}

export interface TransfersTable {
  id: string;
  source_app_id: string;
  source_unit_code: string;
  recipients: readonly PartyJson[];
  routes: readonly RouteJson[];
  subject: string;
  priority: number;
  content_type: string;
  protocol: ProtocolName;
  size_bytes: string;
  sha256: Uint8Array;
  idempotency_key: string | null;
  /** SHA-256 (hex) of the request fields an idempotent retry must repeat. */
  request_digest: string;
  policy: PolicyJson;
  state: TransferStateName;
  blob_id: string;
  inline: boolean;
  content_metadata: Record<string, string>;
  delivery_count: Generated<number>;
  delivered_count: Generated<number>;
  state_reason: Generated<string>;
  upload_expires_at: Date | null;
  deadline: Date | null;
  created_at: Generated<Date>;
  committed_at: Date | null;
  finished_at: Date | null;
  updated_at: Generated<Date>;
  /** Set when a terminal transfer's content must be purged; cleared once storage purged it. */
  purge_due: Generated<boolean>;
  purged_at: Date | null;
}

export interface DeliveriesTable {
  id: string;
  transfer_id: string;
  recipient: PartyJson;
  destination_app_id: string;
  destination_unit_code: string;
  priority: number;
  state: DeliveryStateName;
  edxml_status: Generated<number>;
  attempts: Generated<number>;
  next_attempt_at: Date | null;
  deadline: Date;
  refusal_reason: Generated<number>;
  state_reason: Generated<string>;
  receipt_ref: Generated<string>;
  created_at: Generated<Date>;
  notified_at: Date | null;
  accepted_at: Date | null;
  finished_at: Date | null;
  updated_at: Generated<Date>;
  /**
   * The destination's presence transition that began the offline spell the
   * source was told of (Art. 5.9); 0 for a destination never seen online;
   * null while the source was not told.
   */
  offline_warned_transition: number | null;
}

export interface StatusChangesTable {
  seq: Generated<string>;
  source_app_id: string;
  transfer_id: string;
  delivery_id: string | null;
  transfer_state: TransferStateName;
  delivery_state: DeliveryStateName | null;
  edxml_status: number;
  destination_app_id: string;
  destination_unit_code: string;
  actor: string;
  reason: string;
  occurred_at: Generated<Date>;
}

/** The presence of a destination app, as the notification service last announced it. */
export interface DestinationPresenceTable {
  app_id: string;
  state: 'online' | 'offline';
  /** When the current state began. */
  since: Date;
  /** The app's transition number (bigint, read as a number). */
  transition: number;
  updated_at: Generated<Date>;
}

export interface TransferDatabase {
  transfers: TransfersTable;
  deliveries: DeliveriesTable;
  status_changes: StatusChangesTable;
  destination_presence: DestinationPresenceTable;
  outbox: OutboxTable;
}
