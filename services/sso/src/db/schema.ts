/** Tables of the sso service's schema, one type per table. */
import type { Generated } from 'kysely';
import type { OutboxTable } from '#lib/db/outbox.js';

export type UserStatusName = 'active' | 'locked' | 'disabled';
export type AuthMethodName = 'client_secret_basic' | 'client_secret_post' | 'none';
export type RelyingPartyStatusName = 'active' | 'disabled';

/** A jsonb column: written through `jsonb()` (lib/db/jsonb.ts), read back parsed. */
type Json<T> = T;

export interface UserTable {
  id: string;
  username: string;
  full_name: string;
  email: string;
  phone: string;
  unit_code: string;
  roles: Json<string[]>;
  status: UserStatusName;
  search_text: string;
  password_hash: string;
  password_change_required: boolean;
  failed_logins: Generated<number>;
  locked_until: Date | null;
  totp_secret_sealed: Uint8Array | null;
  totp_last_step: number | null;
  last_login_at: Date | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface RelyingPartyTable {
  client_id: string;
  name: string;
  description: string;
  app_id: string;
  unit_code: string;
  redirect_uris: Json<string[]>;
  post_logout_redirect_uris: Json<string[]>;
  backchannel_logout_uri: string;
  allowed_scopes: Json<string[]>;
  auth_method: AuthMethodName;
  status: RelyingPartyStatusName;
  secret_sealed: Uint8Array | null;
  secret_issued_at: Date | null;
  previous_secret_sealed: Uint8Array | null;
  previous_secret_expires_at: Date | null;
  created_by: string;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface SigningKeyTable {
  kid: string;
  alg: string;
  private_jwk_sealed: Uint8Array;
  public_jwk: Json<Record<string, unknown>>;
  created_at: Date;
  sign_from: Date;
  unpublish_at: Date | null;
}

export interface OidcPayloadTable {
  model: string;
  id: string;
  payload: Json<Record<string, unknown>>;
  grant_id: string | null;
  uid: string | null;
  user_code: string | null;
  account_id: string | null;
  expires_at: Date | null;
  consumed_at: Date | null;
}

export interface SsoDatabase {
  outbox: OutboxTable;
  users: UserTable;
  relying_parties: RelyingPartyTable;
  signing_keys: SigningKeyTable;
  oidc_payloads: OidcPayloadTable;
}
