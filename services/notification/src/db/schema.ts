/** Tables of the notification service's schema, one type per table. */
import type { ColumnType } from 'kysely';
import type { OutboxTable } from '#lib/db/outbox.js';
import type { ChangeReasonName, ChannelName, PresenceStateName } from '../domain/presence.js';
import type { ParkedReasonName } from '../domain/webhook-retry.js';

export type NoticeKindName =
  | 'new_delivery'
  | 'transfer_status'
  | 'destination_offline'
  | 'credential_expiring'
  | 'app_message';

/**
 * A Postgres `bigint`, read as a number (lib/db/database.ts: every value the
 * platform stores fits in 2^53), and written as one.
 */
export type Int8 = number;

/** One notice to one app (Art. 4.5), kept until acknowledged or expired. */
export interface NoticeTable {
  /** `ntc_` and 16 hex digits. */
  id: string;
  app_id: string;
  /** Position in the app's notice sequence: from 1, without gaps (see `notice_counters`). */
  sequence: Int8;
  kind: NoticeKindName;
  /** `lgsp.common.v1.Priority`; 0 when the kind has none. */
  priority: number;
  /** The whole `lgsp.notification.v1.Notice`, as it is sent (binary protobuf). */
  payload: Uint8Array;
  /** What the notice came from (an event, a request); one notice per app and key. */
  dedup_key: string | null;
  created_at: ColumnType<Date, Date | undefined, never>;
  expire_at: Date;
  acked_at: Date | null;
}

/** The last sequence given to each app's notices; its row lock orders the app's notices. */
export interface NoticeCounterTable {
  app_id: string;
  last_sequence: Int8;
}

/**
 * One online/offline transition of an app (Art. 5.11): the connection history.
 * Bigints read as numbers (lib/db/database.ts).
 */
export interface ConnectionEventTable {
  id: ColumnType<number, never, never>;
  app_id: string;
  unit_code: string;
  /** Number of the transition in the app's history; one row per app and number. */
  transition: ColumnType<number, number, never>;
  state: PresenceStateName;
  channel: ChannelName;
  reason: ChangeReasonName;
  occurred_at: Date;
  client_clock_skew_ms: ColumnType<number | null, number | null, never>;
  client_version: string;
  client_address: string;
  replica: string;
  previous_duration_ms: ColumnType<number | null, number | null, never>;
  recorded_at: ColumnType<Date, never, never>;
}

export type WebhookStateName = 'active' | 'paused' | 'disabled';
export type DeliveryStateName = 'pending' | 'succeeded' | 'parked' | 'skipped';
export type AttemptOutcomeName = 'succeeded' | 'retrying' | 'parked';

/** An app's endpoint that receives its notices while it holds no stream. */
export interface WebhookTable {
  /** `whk_` and 16 hex digits. */
  id: string;
  app_id: string;
  url: string;
  /** Kinds posted; empty for all. */
  kinds: NoticeKindName[];
  state: WebhookStateName;
  /** The signing secret, sealed under the master key, context the webhook id. */
  secret_sealed: Uint8Array;
  consecutive_failures: ColumnType<number, number | undefined, number>;
  /** Since when every call failed; null after a success. */
  failing_since: Date | null;
  last_success_at: Date | null;
  created_at: ColumnType<Date, Date | undefined, never>;
  updated_at: Date;
}

/** One notice waiting for, or done with, one webhook. */
export interface WebhookDeliveryTable {
  id: ColumnType<number, never, never>;
  webhook_id: string;
  notice_id: string;
  notice_kind: NoticeKindName;
  state: ColumnType<DeliveryStateName, DeliveryStateName | undefined, DeliveryStateName>;
  /** Calls made for the notice. */
  attempts: ColumnType<number, number | undefined, number>;
  next_attempt_at: Date;
  parked_reason: ParkedReasonName | null;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

/** One call of a webhook with a notice, or the decision to park it without a call. */
export interface WebhookAttemptTable {
  /** `wha_` and 16 hex digits. */
  id: string;
  webhook_id: string;
  notice_id: string;
  notice_kind: NoticeKindName;
  attempt: number;
  attempted_at: Date;
  outcome: AttemptOutcomeName;
  http_status: number;
  error: string;
  latency_ms: number;
  next_attempt_at: Date | null;
  parked_reason: ParkedReasonName | null;
}

export interface NotificationDatabase {
  webhooks: WebhookTable;
  webhook_deliveries: WebhookDeliveryTable;
  webhook_attempts: WebhookAttemptTable;
  outbox: OutboxTable;
  connection_events: ConnectionEventTable;
  notices: NoticeTable;
  notice_counters: NoticeCounterTable;
}
