/** Handlers of the app RPCs: registration and administration of agencies' information systems. */
import type { ServiceImpl } from '@connectrpc/connect';
import { type Caller, CallerKind } from '#gen/lgsp/common/v1/common_pb.js';
import type { RegistryService } from '#gen/lgsp/registry/v1/registry_service_pb.js';
import { FailedPreconditionError, NotFoundError, Violations } from '#lib/errors.js';
import { callerOf, isAdmin, requireAdmin } from '#lib/rpc/caller.js';
import { nextPageToken, readPage } from '#lib/rpc/pagination.js';
import type { RegistryContext } from '../context.js';
import * as apps from '../db/apps.js';
import { emitAppChanged } from '../db/events.js';
import { type AppRow, appKinds, appStatuses, toApp } from '../db/rows.js';
import type { AppKindName, AppStatusName } from '../db/schema.js';
import { findUnit } from '../db/units.js';
import { isMediaTypePattern, normalizeMediaType } from '../domain/content-type.js';
import {
  optionalText,
  optionalUnitCode,
  requiredEnum,
  requiredId,
  requiredText,
  unitCode,
} from './checks.js';
import { requireActive } from './units.js';

const MAX_CONTENT_TYPES = 50;
const UPDATABLE = ['name', 'description', 'accepted_content_types', 'webhook_url'] as const;

export function appRoutes(ctx: RegistryContext): Partial<ServiceImpl<typeof RegistryService>> {
  const { db } = ctx;
  const prefix = ctx.config.busPrefix;

  return {
    async registerApp(req, handlerCtx) {
      requireAdmin(handlerCtx);
      const v = new Violations();
      const input = {
        unitCode: unitCode('unit_code', req.unitCode, v),
        name: requiredText('name', req.name, v),
        description: optionalText('description', req.description, v),
        kind: requiredEnum<AppKindName>('kind', req.kind, appKinds, v),
        acceptedContentTypes: contentTypes('accepted_content_types', req.acceptedContentTypes, v),
        webhookUrl: webhookUrl('webhook_url', req.webhookUrl, v),
      };
      v.throwIfAny();
      const row = await db.transaction().execute(async (trx) => {
        const unit = requireActive(await findUnit(trx, input.unitCode), input.unitCode, 'unit_code');
        if (unit.zone_code !== null) {
          throw new FailedPreconditionError(
            'UNIT_IN_PEER_ZONE',
            `unit ${unit.code} is hosted by zone ${unit.zone_code}; register its apps there`,
            { unit_code: unit.code, zone_code: unit.zone_code },
          );
        }
        const created = await apps.insertApp(trx, { ...input, kind: input.kind! });
        await emitAppChanged(trx, prefix, toApp(created));
        return created;
      });
      ctx.outbox.wake();
      return { app: toApp(row) };
    },

    async getApp(req, handlerCtx) {
      const v = new Violations();
      const id = requiredId('id', req.id, 'app', v);
      v.throwIfAny();
      const row = await apps.findApp(db, id);
      if (row === undefined) throw appNotFound(id, 'id');
      return { app: toApp(row, maySeeWebhook(callerOf(handlerCtx), row)) };
    },

    async listApps(req, handlerCtx) {
      const v = new Violations();
      const unit = optionalUnitCode('unit_code', req.unitCode, v);
      const page = readPage(req.pageSize, req.pageToken, v);
      v.throwIfAny();
      const rows = await apps.listApps(
        db,
        { unitCode: unit, includeInactive: req.includeInactive },
        page.offset,
        page.limit,
      );
      const caller = callerOf(handlerCtx);
      return {
        apps: rows.map((r) => toApp(r, maySeeWebhook(caller, r))),
        nextPageToken: nextPageToken(page, rows.length),
      };
    },

    async updateApp(req, handlerCtx) {
      requireAdmin(handlerCtx);
      const v = new Violations();
      const id = requiredId('id', req.id, 'app', v);
      if (req.updatePaths.length === 0)
        v.add('update_paths', `name at least one of ${UPDATABLE.join(', ')}`, 'REQUIRED');
      const changes: apps.AppChanges = {};
      req.updatePaths.forEach((path, i) => {
        switch (path) {
          case 'name':
            changes.name = requiredText('name', req.name, v);
            break;
          case 'description':
            changes.description = optionalText('description', req.description, v);
            break;
          case 'accepted_content_types':
            changes.accepted_content_types = contentTypes(
              'accepted_content_types',
              req.acceptedContentTypes,
              v,
            );
            break;
          case 'webhook_url':
            changes.webhook_url = webhookUrl('webhook_url', req.webhookUrl, v);
            break;
          default:
            v.add(
              `update_paths[${i}]`,
              `unknown path "${path}"; use ${UPDATABLE.join(', ')}`,
              'UNKNOWN_PATH',
            );
        }
      });
      v.throwIfAny();
      const row = await db.transaction().execute(async (trx) => {
        const current = await apps.lockApp(trx, id);
        if (current === undefined) throw appNotFound(id, 'id');
        if (current.status === 'retired') throw appRetired(id);
        const updated = await apps.updateApp(trx, id, changes);
        await emitAppChanged(trx, prefix, toApp(updated));
        return updated;
      });
      ctx.outbox.wake();
      return { app: toApp(row) };
    },

    async setAppStatus(req, handlerCtx) {
      requireAdmin(handlerCtx);
      const v = new Violations();
      const id = requiredId('id', req.id, 'app', v);
      const status = requiredEnum<AppStatusName>('status', req.status, appStatuses, v);
      optionalText('reason', req.reason, v);
      v.throwIfAny();
      const row = await db.transaction().execute(async (trx) => {
        const current = await apps.lockApp(trx, id);
        if (current === undefined) throw appNotFound(id, 'id');
        if (current.status === 'retired' && status !== 'retired') throw appRetired(id);
        if (status === 'active') {
          requireActive(await findUnit(trx, current.unit_code), current.unit_code, 'id');
        }
        if (current.status === status) return current;
        const updated = await apps.updateApp(trx, id, { status: status! });
        await emitAppChanged(trx, prefix, toApp(updated));
        return updated;
      });
      ctx.outbox.wake();
      return { app: toApp(row) };
    },
  };
}

/** The webhook URL is operational detail: administrators and the app's own unit see it. */
function maySeeWebhook(caller: Caller, app: AppRow): boolean {
  if (isAdmin(caller) || caller.kind === CallerKind.SERVICE) return true;
  return caller.kind === CallerKind.APP && caller.unitCode === app.unit_code;
}

export function appNotFound(id: string, field: string): NotFoundError {
  return new NotFoundError('APP_NOT_FOUND', `no app has the id ${id}`, { app_id: id, field });
}

function appRetired(id: string): FailedPreconditionError {
  return new FailedPreconditionError('APP_RETIRED', `app ${id} is retired and cannot change`, { app_id: id });
}

function contentTypes(field: string, values: readonly string[], v: Violations): string[] {
  if (values.length > MAX_CONTENT_TYPES) v.add(field, `at most ${MAX_CONTENT_TYPES} entries`, 'TOO_MANY');
  const normalized = values.map((value, i) => {
    if (!isMediaTypePattern(value)) {
      v.add(
        `${field}[${i}]`,
        `"${value}" is not a media type such as application/json, application/* or */*`,
        'MEDIA_TYPE',
      );
    }
    return normalizeMediaType(value);
  });
  return [...new Set(normalized)];
}

/** HTTPS, or HTTP to a loopback host for development. Empty means none. */
function webhookUrl(field: string, raw: string, v: Violations): string | null {
  const value = raw.trim();
  if (value === '') return null;
  if (value.length > 2000) {
    v.add(field, 'must be at most 2000 characters', 'TOO_LONG');
    return null;
  }
  try {
    const url = new URL(value);
    const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
      v.add(field, 'must be an https URL (http only on localhost)', 'WEBHOOK_URL');
    }
    if (url.username !== '' || url.password !== '') v.add(field, 'must not carry credentials', 'WEBHOOK_URL');
  } catch {
    v.add(field, 'is not a URL', 'WEBHOOK_URL');
  }
  return value;
}
