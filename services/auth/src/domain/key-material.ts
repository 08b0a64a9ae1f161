/**
 * The key material of one access key, or why there is none usable: what the
 * gateway caches (GetKeyMaterial) and what VerifyRequestSignature and
 * VerifyAccess check signatures with. The owner is asked about live: an app
 * must still be active in the registry, a unit administrator's unit too.
 */
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { Kysely } from 'kysely';
import {
  type KeyMaterial,
  KeyMaterialSchema,
  type Refusal,
  RefusalReason,
  RefusalSchema,
} from '#gen/lgsp/auth/v1/resources_pb.js';
import type { SecretBox } from '#lib/crypto/secret-box.js';
import { isActiveApp, isActiveUnit, type RegistryPort } from '../clients/registry.js';
import { findCredential } from '../db/credentials.js';
import { algorithmToProto, type CredentialRow, currentStatus, kindToProto, ownerOf } from '../db/rows.js';
import type { AuthDatabase } from '../db/schema.js';
import { ACCESS_KEY_ID } from './access-keys.js';

export interface MaterialDeps {
  readonly db: Kysely<AuthDatabase>;
  readonly secretBox: SecretBox;
  readonly registry: RegistryPort;
}

export type MaterialLookup =
  | { readonly ok: true; readonly material: KeyMaterial; readonly row: CredentialRow }
  | { readonly ok: false; readonly refusal: Refusal };

export function refusalOf(reason: RefusalReason, message: string, now: Date = new Date()): Refusal {
  return create(RefusalSchema, { reason, message, serverTime: timestampFromDate(now) });
}

export async function loadKeyMaterial(
  deps: MaterialDeps,
  accessKeyId: string,
  now: Date = new Date(),
): Promise<MaterialLookup> {
  const refuse = (reason: RefusalReason, message: string): MaterialLookup => ({
    ok: false,
    refusal: refusalOf(reason, message, now),
  });
  const row = ACCESS_KEY_ID.test(accessKeyId) ? await findCredential(deps.db, accessKeyId) : undefined;
  if (row === undefined) return refuse(RefusalReason.UNKNOWN_KEY, `unknown access key ${accessKeyId}`);
  const status = currentStatus(row, now);
  if (status === 'revoked') return refuse(RefusalReason.KEY_REVOKED, `access key ${accessKeyId} was revoked`);
  if (status === 'expired') return refuse(RefusalReason.KEY_EXPIRED, `access key ${accessKeyId} has expired`);

  let unitCode = row.unit_code ?? '';
  if (row.owner_app_id !== null) {
    const app = await deps.registry.getApp(row.owner_app_id);
    if (!isActiveApp(app)) {
      return refuse(RefusalReason.OWNER_INACTIVE, `app ${row.owner_app_id} is not active`);
    }
    unitCode = app.unitCode;
  } else if (row.unit_code !== null && !isActiveUnit(await deps.registry.getUnit(row.unit_code))) {
    return refuse(RefusalReason.OWNER_INACTIVE, `unit ${row.unit_code} is not active`);
  }

  const material = create(KeyMaterialSchema, {
    accessKeyId: row.access_key_id,
    owner: ownerOf(row),
    unitCode,
    roles: row.roles,
    kind: kindToProto[row.kind],
    algorithms: row.algorithms.map((a) => algorithmToProto[a]),
    hmacSecret:
      row.secret_ciphertext === null
        ? new Uint8Array(0)
        : deps.secretBox.open(row.secret_ciphertext, row.access_key_id),
    publicKeyDer: row.public_key_der === null ? new Uint8Array(0) : new Uint8Array(row.public_key_der),
    ...(row.expires_at === null ? {} : { expireTime: timestampFromDate(row.expires_at) }),
    version: BigInt(row.version),
  });
  return { ok: true, material, row };
}
