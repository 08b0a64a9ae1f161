/** Conversions between rows and API messages. */
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import {
  type Credential,
  CredentialKind,
  type CredentialOwner,
  CredentialOwnerSchema,
  CredentialSchema,
  CredentialStatus,
  SignatureAlgorithm,
} from '#gen/lgsp/auth/v1/resources_pb.js';
import type { SigningAlgorithm } from '#lib/auth/signing.js';
import { toPem } from '../domain/public-keys.js';
import { displayRoles } from '../domain/roles.js';
import type { CredentialKindName, CredentialStatusName, CredentialTable } from './schema.js';

type Row<T> = {
  [K in keyof T]: T[K] extends import('kysely').ColumnType<infer S, unknown, unknown> ? S : T[K];
};

export type CredentialRow = Row<CredentialTable>;

export const algorithmToProto: Record<SigningAlgorithm, SignatureAlgorithm> = {
  'HMAC-SHA256': SignatureAlgorithm.HMAC_SHA256,
  'HMAC-SHA1': SignatureAlgorithm.HMAC_SHA1,
  'RSA-SHA256': SignatureAlgorithm.RSA_SHA256,
};

export const algorithmFromProto = new Map<SignatureAlgorithm, SigningAlgorithm>(
  Object.entries(algorithmToProto).map(([name, value]) => [value, name as SigningAlgorithm]),
);

export const kindToProto: Record<CredentialKindName, CredentialKind> = {
  hmac_secret: CredentialKind.HMAC_SECRET,
  rsa_public_key: CredentialKind.RSA_PUBLIC_KEY,
};

/** The status a caller sees now: an active credential past its expiry reads as expired. */
export function currentStatus(row: CredentialRow, now: Date = new Date()): CredentialStatusName {
  if (row.status === 'active' && row.expires_at !== null && row.expires_at.getTime() <= now.getTime()) {
    return 'expired';
  }
  return row.status;
}

const statusToProto: Record<CredentialStatusName, CredentialStatus> = {
  active: CredentialStatus.ACTIVE,
  expired: CredentialStatus.EXPIRED,
  revoked: CredentialStatus.REVOKED,
};

export function ownerOf(row: CredentialRow): CredentialOwner {
  return create(CredentialOwnerSchema, {
    owner:
      row.owner_app_id !== null
        ? { case: 'appId', value: row.owner_app_id }
        : { case: 'operatorName', value: row.owner_operator_name ?? '' },
  });
}

/** The credential as the API shows it: never its secret. */
export function toCredential(row: CredentialRow, now: Date = new Date()): Credential {
  return create(CredentialSchema, {
    accessKeyId: row.access_key_id,
    owner: ownerOf(row),
    kind: kindToProto[row.kind],
    algorithms: row.algorithms.map((a) => algorithmToProto[a]),
    status: statusToProto[currentStatus(row, now)],
    label: row.label,
    roles: displayRoles(row.roles, row.unit_code),
    secretHint: row.secret_hint,
    publicKeyPem: row.public_key_der === null ? '' : toPem(row.public_key_der),
    publicKeyFingerprint: row.public_key_fingerprint ?? '',
    keyBits: row.key_bits,
    rotatedFrom: row.rotated_from ?? '',
    createdBy: row.created_by,
    createTime: timestampFromDate(row.created_at),
    ...(row.expires_at === null ? {} : { expireTime: timestampFromDate(row.expires_at) }),
    ...(row.revoked_at === null ? {} : { revokeTime: timestampFromDate(row.revoked_at) }),
    revokedBy: row.revoked_by ?? '',
    revokeReason: row.revoke_reason ?? '',
    ...(row.last_used_at === null ? {} : { lastUsedTime: timestampFromDate(row.last_used_at) }),
  });
}
