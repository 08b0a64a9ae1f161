/** Queries on credentials. Every state change bumps `version` (KeyMaterial.version). */
import { type Kysely, sql } from 'kysely';
import type { SigningAlgorithm } from '#lib/auth/signing.js';
import { ADMIN_ROLE } from '#lib/rpc/caller.js';
import type { CredentialRow } from './rows.js';
import type { AuthDatabase, CredentialKindName, CredentialStatusName } from './schema.js';

type Db = Kysely<AuthDatabase>;

export async function findCredential(db: Db, accessKeyId: string): Promise<CredentialRow | undefined> {
  return db.selectFrom('credentials').selectAll().where('access_key_id', '=', accessKeyId).executeTakeFirst();
}

export async function lockCredential(trx: Db, accessKeyId: string): Promise<CredentialRow | undefined> {
  return trx
    .selectFrom('credentials')
    .selectAll()
    .where('access_key_id', '=', accessKeyId)
    .forUpdate()
    .executeTakeFirst();
}

export interface NewCredential {
  readonly accessKeyId: string;
  readonly owner: { readonly appId: string } | { readonly operatorName: string };
  readonly unitCode: string | null;
  readonly kind: CredentialKindName;
  readonly algorithms: readonly SigningAlgorithm[];
  readonly secretCiphertext?: Uint8Array;
  readonly secretHint?: string;
  readonly publicKey?: { readonly der: Uint8Array; readonly fingerprint: string; readonly bits: number };
  readonly roles: readonly string[];
  readonly label: string;
  readonly rotatedFrom: string | null;
  readonly createdBy: string;
  readonly expiresAt: Date | null;
}

export async function insertCredential(trx: Db, c: NewCredential): Promise<CredentialRow> {
  return trx
    .insertInto('credentials')
    .values({
      access_key_id: c.accessKeyId,
      owner_app_id: 'appId' in c.owner ? c.owner.appId : null,
      owner_operator_name: 'operatorName' in c.owner ? c.owner.operatorName : null,
      unit_code: c.unitCode,
      kind: c.kind,
      algorithms: [...c.algorithms],
      secret_ciphertext: c.secretCiphertext === undefined ? null : Buffer.from(c.secretCiphertext),
      secret_hint: c.secretHint ?? '',
      public_key_der: c.publicKey === undefined ? null : Buffer.from(c.publicKey.der),
      public_key_fingerprint: c.publicKey?.fingerprint ?? null,
      key_bits: c.publicKey?.bits ?? 0,
      roles: [...c.roles],
      label: c.label,
      rotated_from: c.rotatedFrom,
      replaced_by: null,
      status: 'active',
      created_by: c.createdBy,
      expires_at: c.expiresAt,
      expiry_warned_at: null,
      revoked_at: null,
      revoked_by: null,
      revoke_reason: null,
      last_used_at: null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export interface CredentialChanges {
  status?: CredentialStatusName;
  expires_at?: Date | null;
  replaced_by?: string;
  revoked_at?: Date;
  revoked_by?: string;
  revoke_reason?: string;
  expiry_warned_at?: Date;
}

/** Applies a state change and bumps the version. */
export async function updateCredential(
  trx: Db,
  accessKeyId: string,
  changes: CredentialChanges,
): Promise<CredentialRow> {
  return trx
    .updateTable('credentials')
    .set({ ...changes, version: sql<number>`version + 1` })
    .where('access_key_id', '=', accessKeyId)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export interface CredentialFilter {
  readonly ownerAppId?: string;
  readonly ownerOperatorName?: string;
  /** Only credentials of this unit (a unit administrator's view). */
  readonly unitCode?: string;
  readonly includeInactive: boolean;
}

/** Newest first. */
export async function listCredentials(
  db: Db,
  filter: CredentialFilter,
  now: Date,
  offset: number,
  limit: number,
): Promise<CredentialRow[]> {
  let query = db.selectFrom('credentials').selectAll();
  if (filter.ownerAppId !== undefined) query = query.where('owner_app_id', '=', filter.ownerAppId);
  if (filter.ownerOperatorName !== undefined)
    query = query.where('owner_operator_name', '=', filter.ownerOperatorName);
  if (filter.unitCode !== undefined) query = query.where('unit_code', '=', filter.unitCode);
  if (!filter.includeInactive) {
    query = query
      .where('status', '=', 'active')
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]));
  }
  return query.orderBy('created_at', 'desc').orderBy('access_key_id').offset(offset).limit(limit).execute();
}

/** Records that keys signed accepted requests; at most one write per key and minute. */
export async function markUsed(db: Db, accessKeyIds: readonly string[]): Promise<number> {
  if (accessKeyIds.length === 0) return 0;
  const result = await db
    .updateTable('credentials')
    .set({ last_used_at: sql<Date>`now()` })
    .where('access_key_id', 'in', [...accessKeyIds])
    .where((eb) =>
      eb.or([
        eb('last_used_at', 'is', null),
        eb('last_used_at', '<', sql<Date>`now() - interval '1 minute'`),
      ]),
    )
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** Whether some operator credential with the admin role can sign now. */
export async function hasActiveAdmin(db: Db, now: Date): Promise<boolean> {
  const row = await db
    .selectFrom('credentials')
    .select('access_key_id')
    .where('owner_operator_name', 'is not', null)
    .where('status', '=', 'active')
    .where(sql<boolean>`${ADMIN_ROLE} = any(roles)`)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** Active credentials past their expiry, locked for this sweep (other replicas skip them). */
export async function claimExpired(trx: Db, now: Date, limit: number): Promise<CredentialRow[]> {
  return trx
    .selectFrom('credentials')
    .selectAll()
    .where('status', '=', 'active')
    .where('expires_at', '<=', now)
    .orderBy('expires_at')
    .limit(limit)
    .forUpdate()
    .skipLocked()
    .execute();
}

/** Active credentials expiring before `horizon` whose owners were not warned yet; not rotated ones. */
export async function claimExpiring(
  trx: Db,
  now: Date,
  horizon: Date,
  limit: number,
): Promise<CredentialRow[]> {
  return trx
    .selectFrom('credentials')
    .selectAll()
    .where('status', '=', 'active')
    .where('expires_at', '>', now)
    .where('expires_at', '<=', horizon)
    .where('expiry_warned_at', 'is', null)
    .where('replaced_by', 'is', null)
    .orderBy('expires_at')
    .limit(limit)
    .forUpdate()
    .skipLocked()
    .execute();
}
