/** Handlers of the grant RPCs: who may send to or call whom. */

import { timestampDate } from '@bufbuild/protobuf/wkt';
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import type { Party } from '#gen/lgsp/common/v1/common_pb.js';
import { CallerKind } from '#gen/lgsp/common/v1/common_pb.js';
import type { RegistryService } from '#gen/lgsp/registry/v1/registry_service_pb.js';
import {
  AlreadyExistsError,
  NotFoundError,
  PermissionDeniedError,
  UnauthenticatedError,
  Violations,
} from '#lib/errors.js';
import { actorOf, callerOf, isAdmin, requireAdmin } from '#lib/rpc/caller.js';
import { nextPageToken, readPage } from '#lib/rpc/pagination.js';
import type { RegistryContext } from '../context.js';
import { findApp } from '../db/apps.js';
import { emitGrantChanged } from '../db/events.js';
import * as grants from '../db/grants.js';
import { grantActions, toGrant } from '../db/rows.js';
import type { GrantActionName } from '../db/schema.js';
import { findUnit } from '../db/units.js';
import { appNotFound } from './apps.js';
import { optionalText, requiredEnum, requiredId, unitCode } from './checks.js';
import { requireActive, unitNotFound } from './units.js';

export function grantRoutes(ctx: RegistryContext): Partial<ServiceImpl<typeof RegistryService>> {
  const { db } = ctx;
  const prefix = ctx.config.busPrefix;

  return {
    async createGrant(req, handlerCtx) {
      const caller = requireAdmin(handlerCtx);
      const v = new Violations();
      const subject = party('subject', req.subject, v);
      let object: { unitCode?: string; appId?: string; any?: true } = {};
      switch (req.object?.object.case) {
        case 'unitCode':
          object = { unitCode: unitCode('object.unit_code', req.object.object.value, v) };
          break;
        case 'appId':
          object = { appId: requiredId('object.app_id', req.object.object.value, 'app', v) };
          break;
        case 'anyUnit':
          if (req.object.object.value) object = { any: true };
          else v.add('object.any_unit', 'must be true when set', 'REQUIRED');
          break;
        default:
          v.add('object', 'set unit_code, app_id or any_unit', 'REQUIRED');
      }
      const action = requiredEnum<GrantActionName>('action', req.action, grantActions, v);
      const expiresAt = req.expireTime === undefined ? null : timestampDate(req.expireTime);
      if (expiresAt !== null && expiresAt.getTime() <= Date.now())
        v.add('expire_time', 'must be in the future', 'IN_THE_PAST');
      const note = optionalText('note', req.note, v, 500);
      v.throwIfAny();

      const row = await db.transaction().execute(async (trx) => {
        if (subject.unitCode !== undefined)
          requireActive(await findUnit(trx, subject.unitCode), subject.unitCode, 'subject.unit_code');
        if (subject.appId !== undefined && (await findApp(trx, subject.appId)) === undefined)
          throw appNotFound(subject.appId, 'subject.app_id');
        if (object.unitCode !== undefined && (await findUnit(trx, object.unitCode)) === undefined)
          throw unitNotFound(object.unitCode, 'object.unit_code');
        if (object.appId !== undefined && (await findApp(trx, object.appId)) === undefined)
          throw appNotFound(object.appId, 'object.app_id');
        const values = {
          subjectUnitCode: subject.unitCode ?? null,
          subjectAppId: subject.appId ?? null,
          objectUnitCode: object.unitCode ?? null,
          objectAppId: object.appId ?? null,
          objectAny: object.any === true,
          action: action!,
        };
        const existing = await trx
          .selectFrom('grants')
          .select('id')
          .where('action', '=', values.action)
          .where('subject_unit_code', 'is not distinct from', values.subjectUnitCode)
          .where('subject_app_id', 'is not distinct from', values.subjectAppId)
          .where('object_unit_code', 'is not distinct from', values.objectUnitCode)
          .where('object_app_id', 'is not distinct from', values.objectAppId)
          .where('object_any', '=', values.objectAny)
          .executeTakeFirst();
        if (existing !== undefined) {
          throw new AlreadyExistsError('GRANT_EXISTS', `an identical grant exists: ${existing.id}`, {
            grant_id: existing.id,
          });
        }
        const created = await grants.insertGrant(trx, {
          ...values,
          expiresAt,
          note,
          createdBy: actorOf(caller),
        });
        await emitGrantChanged(trx, prefix, toGrant(created), false);
        return created;
      });
      ctx.outbox.wake();
      return { grant: toGrant(row) };
    },

    async deleteGrant(req, handlerCtx) {
      requireAdmin(handlerCtx);
      const v = new Violations();
      const id = requiredId('id', req.id, 'grt', v);
      v.throwIfAny();
      await db.transaction().execute(async (trx) => {
        const deleted = await grants.deleteGrant(trx, id);
        if (deleted === undefined)
          throw new NotFoundError('GRANT_NOT_FOUND', `no grant has the id ${id}`, { grant_id: id });
        await emitGrantChanged(trx, prefix, toGrant(deleted), true);
      });
      ctx.outbox.wake();
      return {};
    },

    async listGrants(req, handlerCtx) {
      const v = new Violations();
      const subject = req.subject === undefined ? {} : party('subject', req.subject, v);
      const action =
        req.action === 0 ? undefined : requiredEnum<GrantActionName>('action', req.action, grantActions, v);
      const page = readPage(req.pageSize, req.pageToken, v);
      v.throwIfAny();
      const filter = restrictToOwnGrants(handlerCtx, subject);
      if (filter.subjectAppId !== undefined && filter.subjectAppUnitCode === undefined) {
        const app = await findApp(db, filter.subjectAppId);
        if (app !== undefined) filter.subjectAppUnitCode = app.unit_code;
      }
      const rows = await grants.listGrants(
        db,
        { ...filter, ...(action ? { action } : {}) },
        page.offset,
        page.limit,
      );
      return { grants: rows.map(toGrant), nextPageToken: nextPageToken(page, rows.length) };
    },

    async checkGrant(req, handlerCtx) {
      const v = new Violations();
      const appId = requiredId('app_id', req.appId, 'app', v);
      const object = party('object', req.object, v);
      const action = requiredEnum<GrantActionName>('action', req.action, grantActions, v);
      v.throwIfAny();
      const caller = callerOf(handlerCtx);
      if (
        !isAdmin(caller) &&
        caller.kind !== CallerKind.SERVICE &&
        !(caller.kind === CallerKind.APP && caller.appId === appId)
      ) {
        throw denied(
          handlerCtx,
          'only administrators, platform services and the app itself may check its grants',
        );
      }
      const app = await findApp(db, appId);
      if (app === undefined) throw appNotFound(appId, 'app_id');
      if (app.status !== 'active') return { allowed: false, grantId: '' };
      let target: { unitCode: string; appId?: string };
      if (object.appId !== undefined) {
        const targetApp = await findApp(db, object.appId);
        if (targetApp === undefined) throw appNotFound(object.appId, 'object.app_id');
        target = { unitCode: targetApp.unit_code, appId: targetApp.id };
      } else {
        target = { unitCode: object.unitCode! };
      }
      const held = await grants.grantsHeldBy(
        db,
        { id: app.id, unitCode: app.unit_code },
        action!,
        new Date(),
      );
      const grant = grants.coveringGrant(held, target);
      return { allowed: grant !== undefined, grantId: grant?.id ?? '' };
    },
  };
}

function party(
  field: string,
  value: Party | undefined,
  v: Violations,
): { unitCode?: string; appId?: string } {
  switch (value?.party.case) {
    case 'unitCode':
      return { unitCode: unitCode(`${field}.unit_code`, value.party.value, v) };
    case 'appId':
      return { appId: requiredId(`${field}.app_id`, value.party.value, 'app', v) };
    default:
      v.add(field, 'set unit_code or app_id', 'REQUIRED');
      return {};
  }
}

/** Administrators see every grant; an app sees the grants it holds (directly or through its unit). */
function restrictToOwnGrants(
  handlerCtx: HandlerContext,
  subject: { unitCode?: string; appId?: string },
): { subjectUnitCode?: string; subjectAppId?: string; subjectAppUnitCode?: string } {
  const caller = callerOf(handlerCtx);
  if (isAdmin(caller) || caller.kind === CallerKind.SERVICE) {
    return {
      ...(subject.unitCode ? { subjectUnitCode: subject.unitCode } : {}),
      ...(subject.appId ? { subjectAppId: subject.appId } : {}),
    };
  }
  if (caller.kind === CallerKind.APP) {
    if (
      (subject.appId && subject.appId !== caller.appId) ||
      (subject.unitCode && subject.unitCode !== caller.unitCode)
    ) {
      throw denied(handlerCtx, 'an app may list only the grants it holds');
    }
    return { subjectAppId: caller.appId, subjectAppUnitCode: caller.unitCode };
  }
  throw new UnauthenticatedError('AUTHENTICATION_REQUIRED', 'listing grants needs a credential');
}

function denied(handlerCtx: HandlerContext, message: string): Error {
  const caller = callerOf(handlerCtx);
  if (caller.kind === CallerKind.ANONYMOUS || caller.kind === CallerKind.UNSPECIFIED) {
    return new UnauthenticatedError('AUTHENTICATION_REQUIRED', message);
  }
  return new PermissionDeniedError('NOT_ALLOWED', message, { subject: caller.subject });
}
