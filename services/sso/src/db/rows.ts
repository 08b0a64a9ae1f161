/** Conversions between rows and API messages, and between stored and API enum names. */
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import {
  ClientAuthMethod,
  type RelyingParty,
  RelyingPartySchema,
  RelyingPartyStatus,
  type User,
  UserSchema,
  UserStatus,
} from '#gen/lgsp/sso/v1/resources_pb.js';
import { enumMap } from '#lib/db/enum-map.js';
import type { RelyingPartyRow } from './relying-parties.js';
import type { AuthMethodName, RelyingPartyStatusName, UserStatusName } from './schema.js';
import type { UserRow } from './users.js';

export const userStatuses = enumMap<UserStatusName, UserStatus>({
  active: UserStatus.ACTIVE,
  locked: UserStatus.LOCKED,
  disabled: UserStatus.DISABLED,
});

export const authMethods = enumMap<AuthMethodName, ClientAuthMethod>({
  client_secret_basic: ClientAuthMethod.CLIENT_SECRET_BASIC,
  client_secret_post: ClientAuthMethod.CLIENT_SECRET_POST,
  none: ClientAuthMethod.NONE,
});

export const relyingPartyStatuses = enumMap<RelyingPartyStatusName, RelyingPartyStatus>({
  active: RelyingPartyStatus.ACTIVE,
  disabled: RelyingPartyStatus.DISABLED,
});

export function toUser(row: UserRow, now = new Date()): User {
  // A lockout by failed logins that has run out shows as active.
  const expired = row.status === 'locked' && row.locked_until !== null && row.locked_until <= now;
  return create(UserSchema, {
    id: row.id,
    username: row.username,
    fullName: row.full_name,
    email: row.email,
    phone: row.phone,
    unitCode: row.unit_code,
    roles: row.roles,
    status: userStatuses.toProto(expired ? 'active' : row.status),
    passwordChangeRequired: row.password_change_required,
    ...(row.last_login_at === null ? {} : { lastLoginTime: timestampFromDate(row.last_login_at) }),
    createTime: timestampFromDate(row.created_at),
    updateTime: timestampFromDate(row.updated_at),
    totpEnabled: row.totp_secret_sealed !== null,
  });
}

export function toRelyingParty(row: RelyingPartyRow): RelyingParty {
  return create(RelyingPartySchema, {
    clientId: row.client_id,
    name: row.name,
    description: row.description,
    appId: row.app_id,
    unitCode: row.unit_code,
    redirectUris: row.redirect_uris,
    postLogoutRedirectUris: row.post_logout_redirect_uris,
    allowedScopes: row.allowed_scopes,
    authMethod: authMethods.toProto(row.auth_method),
    status: relyingPartyStatuses.toProto(row.status),
    ...(row.secret_issued_at === null ? {} : { secretIssueTime: timestampFromDate(row.secret_issued_at) }),
    createTime: timestampFromDate(row.created_at),
    updateTime: timestampFromDate(row.updated_at),
    backchannelLogoutUri: row.backchannel_logout_uri,
  });
}
