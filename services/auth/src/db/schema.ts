/** Tables of the auth service's schema, one type per table. */
import type { ColumnType } from 'kysely';
import type { SigningAlgorithm } from '#lib/auth/signing.js';
import type { OutboxTable } from '#lib/db/outbox.js';

export type CredentialKindName = 'hmac_secret' | 'rsa_public_key';
/** `expired` is set by the expiry sweep; until then an active credential past expires_at reads as expired. */
export type CredentialStatusName = 'active' | 'expired' | 'revoked';

export interface CredentialTable {
  access_key_id: string;
  owner_app_id: string | null;
  owner_operator_name: string | null;
  unit_code: string | null;
  kind: CredentialKindName;
  algorithms: SigningAlgorithm[];
  secret_ciphertext: Uint8Array | null;
  secret_hint: string;
  public_key_der: Uint8Array | null;
  public_key_fingerprint: string | null;
  key_bits: number;
  roles: string[];
  label: string;
  rotated_from: string | null;
  replaced_by: string | null;
  status: CredentialStatusName;
  version: ColumnType<number, number | undefined, number>;
  created_by: string;
  created_at: ColumnType<Date, Date | undefined, never>;
  expires_at: Date | null;
  expiry_warned_at: Date | null;
  revoked_at: Date | null;
  revoked_by: string | null;
  revoke_reason: string | null;
  last_used_at: Date | null;
}

export interface PublicJwk {
  readonly kty: string;
  readonly crv: string;
  readonly x: string;
  readonly y: string;
  readonly kid: string;
  readonly alg: 'ES256';
  readonly use: 'sig';
}

export interface SigningKeyTable {
  kid: string;
  alg: 'ES256';
  private_jwk_ciphertext: Uint8Array;
  public_jwk: ColumnType<PublicJwk, string, string>;
  created_at: ColumnType<Date, Date | undefined, never>;
  retire_after: Date;
  status: 'active' | 'retired';
}

/** One entry of the audit log (Art. 14.5), a link of its hash chain. */
export interface AuditLogTable {
  seq: number;
  event_id: string;
  occur_time: Date;
  record_time: Date;
  source: string;
  action: string;
  object: string;
  /** An AuditOutcome name without its prefix: `SUCCEEDED`, `REFUSED`, `FAILED`, `UNSPECIFIED`. */
  outcome: string;
  reason: string;
  message: string;
  request_id: string;
  trace_id: string;
  client_address: string;
  access_key_id: string;
  /** A CallerKind name without its prefix: `APP`, `OPERATOR`, ... */
  actor_kind: string;
  actor_subject: string;
  actor_app_id: string;
  actor_unit_code: string;
  actor_roles: string[];
  prev_hash: Uint8Array;
  hash: Uint8Array;
}

/** The audit log's single lock row: the head of the chain, and the anchor left by retention. */
export interface AuditChainTable {
  id: number;
  head_seq: number;
  head_hash: Uint8Array;
  anchor_seq: number;
  anchor_hash: Uint8Array;
  anchor_time: Date | null;
}

export interface AuthDatabase {
  credentials: CredentialTable;
  signing_keys: SigningKeyTable;
  outbox: OutboxTable;
  audit_log: AuditLogTable;
  audit_chain: AuditChainTable;
}
