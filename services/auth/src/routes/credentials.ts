/** Handlers of the credential RPCs: create, register a public key, read, list, rotate, revoke. */
import type { ServiceImpl } from '@connectrpc/connect';
import type { Kysely } from 'kysely';
import type { AuthService } from '#gen/lgsp/auth/v1/auth_service_pb.js';
import { CredentialEventKind } from '#gen/lgsp/auth/v1/resources_pb.js';
import { type Caller, CallerKind } from '#gen/lgsp/common/v1/common_pb.js';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
} from '#lib/errors.js';
import { actorOf, callerOf } from '#lib/rpc/caller.js';
import { nextPageToken } from '#lib/rpc/pagination.js';
import { isActiveApp, isActiveUnit } from '../clients/registry.js';
import type { AuthContext } from '../context.js';
import * as store from '../db/credentials.js';
import { emitCredentialEvent } from '../db/events.js';
import { type CredentialRow, currentStatus, toCredential } from '../db/rows.js';
import type { AuthDatabase } from '../db/schema.js';
import { AUTH_SERVICE, AuditOutcome } from '../domain/audit.js';
import { newHmacCredential, newRsaCredential } from '../domain/new-credentials.js';
import { administeredUnit, isProvinceLevel, mayManage } from '../domain/permissions.js';
import type { OperatorRoles } from '../domain/roles.js';
import type { Owner } from './checks.js';
import {
  checkAccessKeyId,
  checkCreateCredential,
  checkListCredentials,
  checkRegisterPublicKey,
  checkRevokeCredential,
  checkRotateCredential,
} from './credentials.validate.js';

type Db = Kysely<AuthDatabase>;

export function credentialRoutes(ctx: AuthContext): Partial<ServiceImpl<typeof AuthService>> {
  const { db } = ctx;
  const prefix = ctx.config.busPrefix;

  /** The unit of the owner of a new credential, once the caller is known to be allowed to create it. */
  async function ownerUnit(
    caller: Caller,
    owner: Owner,
    roles: OperatorRoles | undefined,
  ): Promise<string | null> {
    if ('operatorName' in owner) {
      if (!isProvinceLevel(caller)) {
        throw notAllowed(caller, 'only a province administrator may create operator credentials');
      }
      const unitCode = roles?.unitCode ?? null;
      if (unitCode !== null) {
        const unit = await ctx.registry.getUnit(unitCode);
        if (unit === undefined) {
          throw new NotFoundError('UNIT_NOT_FOUND', `no unit has the code ${unitCode}`, {
            unit_code: unitCode,
          });
        }
        if (!isActiveUnit(unit)) {
          throw new FailedPreconditionError('UNIT_NOT_ACTIVE', `unit ${unitCode} is not active`, {
            unit_code: unitCode,
          });
        }
      }
      return unitCode;
    }
    const app = await ctx.registry.getApp(owner.appId);
    if (app === undefined) throw appNotFound(owner.appId);
    if (!isProvinceLevel(caller) && administeredUnit(caller) !== app.unitCode) {
      throw notAllowed(caller, 'a unit administrator may manage credentials only for apps of its own unit');
    }
    if (!isActiveApp(app)) throw ownerInactive(owner.appId);
    return app.unitCode;
  }

  /** Loads a credential the caller may manage; refuses one it may not even see. */
  async function manageable(caller: Caller, accessKeyId: string): Promise<CredentialRow> {
    const row = await store.findCredential(db, accessKeyId);
    if (row === undefined) throw credentialNotFound(accessKeyId);
    if (!mayManage(caller, row))
      throw notAllowed(caller, `credential ${accessKeyId} belongs to someone else`);
    return row;
  }

  const succeeded = (caller: Caller, rpc: string, accessKeyId: string, message: string) =>
    ctx.audit.record({
      actor: caller,
      action: `${AUTH_SERVICE}/${rpc}`,
      object: accessKeyId,
      outcome: AuditOutcome.SUCCEEDED,
      message,
    });

  async function insert(trx: Db, values: store.NewCredential, actor: string): Promise<CredentialRow> {
    if (values.publicKey !== undefined) {
      const taken = await trx
        .selectFrom('credentials')
        .select('access_key_id')
        .where('public_key_fingerprint', '=', values.publicKey.fingerprint)
        .executeTakeFirst();
      if (taken !== undefined) throw publicKeyInUse(values.publicKey.fingerprint);
    }
    try {
      const row = await store.insertCredential(trx, values);
      await emitCredentialEvent(trx, prefix, CredentialEventKind.CREATED, row, { actor });
      return row;
    } catch (error) {
      if (isUniqueViolation(error) && values.publicKey !== undefined)
        throw publicKeyInUse(values.publicKey.fingerprint);
      throw error;
    }
  }

  return {
    async createCredential(req, handlerCtx) {
      const caller = callerOf(handlerCtx);
      const input = checkCreateCredential(req, new Date());
      const unitCode = await ownerUnit(caller, input.owner, input.roles);
      const actor = actorOf(caller);
      const { values, secret } = newHmacCredential(
        ctx.secretBox,
        {
          owner: input.owner,
          unitCode,
          roles: input.roles?.roles ?? [],
          label: input.label,
          rotatedFrom: null,
          createdBy: actor,
          expiresAt: input.expiresAt,
        },
        input.allowLegacySha1,
      );
      const row = await db.transaction().execute((trx) => insert(trx, values, actor));
      ctx.outbox.wake();
      succeeded(caller, 'CreateCredential', row.access_key_id, `credential for ${describeOwner(row)}`);
      return { credential: toCredential(row), secretKey: secret };
    },

    async registerPublicKey(req, handlerCtx) {
      const caller = callerOf(handlerCtx);
      const input = checkRegisterPublicKey(req, new Date());
      const unitCode = await ownerUnit(caller, { appId: input.appId }, undefined);
      const actor = actorOf(caller);
      const values = newRsaCredential(
        {
          owner: { appId: input.appId },
          unitCode,
          roles: [],
          label: input.label,
          rotatedFrom: null,
          createdBy: actor,
          expiresAt: input.expiresAt,
        },
        input.key,
      );
      const row = await db.transaction().execute((trx) => insert(trx, values, actor));
      ctx.outbox.wake();
      succeeded(caller, 'RegisterPublicKey', row.access_key_id, `RSA key for ${describeOwner(row)}`);
      return { credential: toCredential(row) };
    },

    async getCredential(req, handlerCtx) {
      const id = checkAccessKeyId(req.accessKeyId);
      return { credential: toCredential(await manageable(callerOf(handlerCtx), id)) };
    },

    async listCredentials(req, handlerCtx) {
      const caller = callerOf(handlerCtx);
      const { owner, page } = checkListCredentials(req);
      const ownerFilter =
        owner === undefined
          ? {}
          : 'appId' in owner
            ? { ownerAppId: owner.appId }
            : { ownerOperatorName: owner.operatorName };
      let filter: store.CredentialFilter;
      const unit = administeredUnit(caller);
      if (isProvinceLevel(caller)) {
        filter = { ...ownerFilter, includeInactive: req.includeInactive };
      } else if (unit !== undefined) {
        filter = { ...ownerFilter, unitCode: unit, includeInactive: req.includeInactive };
      } else if (caller.kind === CallerKind.APP && caller.appId !== '') {
        if (owner !== undefined && !('appId' in owner && owner.appId === caller.appId)) {
          throw notAllowed(caller, 'an app may list only its own credentials');
        }
        filter = { ownerAppId: caller.appId, includeInactive: req.includeInactive };
      } else {
        throw notAllowed(caller, 'listing credentials needs an administrator or an app credential');
      }
      const now = new Date();
      const rows = await store.listCredentials(db, filter, now, page.offset, page.limit);
      return {
        credentials: rows.map((r) => toCredential(r, now)),
        nextPageToken: nextPageToken(page, rows.length),
      };
    },

    async rotateCredential(req, handlerCtx) {
      const caller = callerOf(handlerCtx);
      const now = new Date();
      const input = checkRotateCredential(req, now);
      const old = await manageable(caller, input.accessKeyId);
      if (old.kind === 'rsa_public_key' && input.key === undefined) {
        throw new InvalidArgumentError([
          {
            field: 'public_key_pem',
            description: 'is required to rotate an RSA credential',
            reason: 'REQUIRED',
          },
        ]);
      }
      if (old.kind === 'hmac_secret' && input.key !== undefined) {
        throw new InvalidArgumentError([
          {
            field: 'public_key_pem',
            description: 'must be empty for an HMAC credential',
            reason: 'NOT_APPLICABLE',
          },
        ]);
      }
      if (input.key !== undefined && input.key.fingerprint === old.public_key_fingerprint) {
        throw new InvalidArgumentError([
          {
            field: 'public_key_pem',
            description: 'must differ from the key it replaces',
            reason: 'SAME_KEY',
          },
        ]);
      }
      let unitCode = old.unit_code;
      if (old.owner_app_id !== null) {
        const app = await ctx.registry.getApp(old.owner_app_id);
        if (!isActiveApp(app)) throw ownerInactive(old.owner_app_id);
        unitCode = app.unitCode;
      }
      const actor = actorOf(caller);
      const common = {
        owner:
          old.owner_app_id !== null
            ? { appId: old.owner_app_id }
            : { operatorName: old.owner_operator_name ?? '' },
        unitCode,
        roles: old.roles,
        label: old.label,
        rotatedFrom: old.access_key_id,
        createdBy: actor,
        expiresAt: input.expiresAt ?? sameLifetime(old, now),
      };
      const fresh =
        input.key === undefined
          ? newHmacCredential(ctx.secretBox, common, old.algorithms.includes('HMAC-SHA1'))
          : { values: newRsaCredential(common, input.key), secret: '' };

      const { created, previous } = await db.transaction().execute(async (trx) => {
        const locked = await store.lockCredential(trx, old.access_key_id);
        if (locked === undefined) throw credentialNotFound(old.access_key_id);
        if (currentStatus(locked, now) !== 'active') {
          throw new FailedPreconditionError(
            'CREDENTIAL_NOT_ACTIVE',
            `credential ${locked.access_key_id} is ${currentStatus(locked, now)} and cannot be rotated`,
            { access_key_id: locked.access_key_id },
          );
        }
        if (locked.replaced_by !== null) {
          throw new FailedPreconditionError(
            'ALREADY_ROTATED',
            `credential ${locked.access_key_id} was already replaced by ${locked.replaced_by}; rotate that one`,
            { access_key_id: locked.access_key_id, replaced_by: locked.replaced_by },
          );
        }
        const created = await insert(trx, fresh.values, actor);
        const endOfOverlap = new Date(now.getTime() + input.overlapMs);
        const previous = await store.updateCredential(
          trx,
          locked.access_key_id,
          input.overlapMs === 0
            ? {
                replaced_by: created.access_key_id,
                status: 'revoked',
                expires_at: now,
                revoked_at: now,
                revoked_by: actor,
                revoke_reason: `replaced by ${created.access_key_id} without overlap`,
              }
            : {
                replaced_by: created.access_key_id,
                expires_at:
                  locked.expires_at !== null && locked.expires_at < endOfOverlap
                    ? locked.expires_at
                    : endOfOverlap,
              },
        );
        await emitCredentialEvent(trx, prefix, CredentialEventKind.ROTATED, previous, {
          actor,
          replacedBy: created.access_key_id,
          at: now,
        });
        return { created, previous };
      });
      ctx.outbox.wake();
      await ctx.announceStale([previous.access_key_id]);
      succeeded(caller, 'RotateCredential', previous.access_key_id, `replaced by ${created.access_key_id}`);
      return { credential: toCredential(created), secretKey: fresh.secret, previous: toCredential(previous) };
    },

    async revokeCredential(req, handlerCtx) {
      const caller = callerOf(handlerCtx);
      const input = checkRevokeCredential(req);
      await manageable(caller, input.accessKeyId);
      const actor = actorOf(caller);
      const { row, changed } = await db.transaction().execute(async (trx) => {
        const locked = await store.lockCredential(trx, input.accessKeyId);
        if (locked === undefined) throw credentialNotFound(input.accessKeyId);
        if (locked.status === 'revoked') return { row: locked, changed: false };
        const now = new Date();
        const revoked = await store.updateCredential(trx, locked.access_key_id, {
          status: 'revoked',
          revoked_at: now,
          revoked_by: actor,
          revoke_reason: input.reason,
        });
        await emitCredentialEvent(trx, prefix, CredentialEventKind.REVOKED, revoked, {
          actor,
          reason: input.reason,
          at: now,
        });
        return { row: revoked, changed: true };
      });
      if (changed) {
        ctx.outbox.wake();
        await ctx.announceStale([row.access_key_id]);
        succeeded(caller, 'RevokeCredential', row.access_key_id, input.reason);
      }
      return { credential: toCredential(row) };
    },
  };
}

/** A successor lives as long as its predecessor was meant to, counted from now. */
function sameLifetime(old: CredentialRow, now: Date): Date | null {
  if (old.expires_at === null) return null;
  return new Date(now.getTime() + Math.max(old.expires_at.getTime() - old.created_at.getTime(), 60_000));
}

function describeOwner(row: CredentialRow): string {
  return row.owner_app_id !== null ? `app ${row.owner_app_id}` : `operator ${row.owner_operator_name ?? ''}`;
}

function notAllowed(caller: Caller, message: string): PermissionDeniedError {
  return new PermissionDeniedError('NOT_ALLOWED', message, { subject: caller.subject });
}

function credentialNotFound(accessKeyId: string): NotFoundError {
  return new NotFoundError('CREDENTIAL_NOT_FOUND', `no credential has the access key id ${accessKeyId}`, {
    access_key_id: accessKeyId,
  });
}

function appNotFound(appId: string): NotFoundError {
  return new NotFoundError('APP_NOT_FOUND', `no app has the id ${appId}`, { app_id: appId });
}

function ownerInactive(appId: string): FailedPreconditionError {
  return new FailedPreconditionError('OWNER_INACTIVE', `app ${appId} is not active`, { app_id: appId });
}

function publicKeyInUse(fingerprint: string): AlreadyExistsError {
  return new AlreadyExistsError(
    'PUBLIC_KEY_IN_USE',
    'this public key is already registered; generate a new key pair',
    {
      public_key_fingerprint: fingerprint,
    },
  );
}

function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '23505';
}
