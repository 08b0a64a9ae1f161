/** Conversions between rows and API messages, and between stored and API enum names. */
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import {
  type App,
  AppKind,
  AppSchema,
  AppStatus,
  type Grant,
  GrantAction,
  GrantSchema,
  type Unit,
  type UnitEvent,
  UnitEventKind,
  UnitEventSchema,
  UnitKind,
  UnitSchema,
  UnitStatus,
  type Zone,
  ZoneSchema,
} from '#gen/lgsp/registry/v1/resources_pb.js';
import { enumMap } from '#lib/db/enum-map.js';
import type {
  AppKindName,
  AppStatusName,
  AppTable,
  GrantActionName,
  GrantTable,
  UnitEventKindName,
  UnitEventTable,
  UnitKindName,
  UnitStatusName,
  UnitTable,
  ZoneTable,
} from './schema.js';

type Row<T> = {
  [K in keyof T]: T[K] extends import('kysely').ColumnType<infer S, unknown, unknown>
    ? S
    : T[K] extends import('kysely').Generated<infer G>
      ? G
      : T[K];
};

export type UnitRow = Row<UnitTable>;
export type UnitEventRow = Row<UnitEventTable>;
export type AppRow = Row<AppTable>;
export type GrantRow = Row<GrantTable>;
export type ZoneRow = Row<ZoneTable>;

/** A two-way map between a stored name and a proto enum value. */
export const unitKinds = enumMap<UnitKindName, UnitKind>({
  province: UnitKind.PROVINCE,
  department: UnitKind.DEPARTMENT,
  district: UnitKind.DISTRICT,
  commune: UnitKind.COMMUNE,
  other: UnitKind.OTHER,
});

export const unitStatuses = enumMap<UnitStatusName, UnitStatus>({
  active: UnitStatus.ACTIVE,
  superseded: UnitStatus.SUPERSEDED,
  split: UnitStatus.SPLIT,
  merged: UnitStatus.MERGED,
  dissolved: UnitStatus.DISSOLVED,
});

export const unitEventKinds = enumMap<UnitEventKindName, UnitEventKind>({
  created: UnitEventKind.CREATED,
  renamed: UnitEventKind.RENAMED,
  moved: UnitEventKind.MOVED,
  split: UnitEventKind.SPLIT,
  merged: UnitEventKind.MERGED,
  dissolved: UnitEventKind.DISSOLVED,
});

export const appKinds = enumMap<AppKindName, AppKind>({
  document_system: AppKind.DOCUMENT_SYSTEM,
  data_service: AppKind.DATA_SERVICE,
  web_app: AppKind.WEB_APP,
  other: AppKind.OTHER,
});

export const appStatuses = enumMap<AppStatusName, AppStatus>({
  active: AppStatus.ACTIVE,
  suspended: AppStatus.SUSPENDED,
  retired: AppStatus.RETIRED,
});

export const grantActions = enumMap<GrantActionName, GrantAction>({
  send: GrantAction.SEND,
  call: GrantAction.CALL,
});

export function toUnit(row: UnitRow, successorCodes: readonly string[] = []): Unit {
  return create(UnitSchema, {
    code: row.code,
    name: row.name,
    parentCode: row.parent_code ?? '',
    kind: unitKinds.toProto(row.kind),
    status: unitStatuses.toProto(row.status),
    zoneCode: row.zone_code ?? '',
    successorCodes: [...successorCodes],
    createTime: timestampFromDate(row.created_at),
    updateTime: timestampFromDate(row.updated_at),
  });
}

export function toUnitEvent(row: UnitEventRow): UnitEvent {
  return create(UnitEventSchema, {
    id: BigInt(row.id),
    kind: unitEventKinds.toProto(row.kind),
    fromCodes: row.from_codes,
    toCodes: row.to_codes,
    oldName: row.old_name ?? '',
    newName: row.new_name ?? '',
    decisionRef: row.decision_ref ?? '',
    reason: row.reason ?? '',
    actor: row.actor,
    occurTime: timestampFromDate(row.occurred_at),
  });
}

/** `withWebhook` false hides the webhook URL from callers who may not see it. */
export function toApp(row: AppRow, withWebhook = true): App {
  return create(AppSchema, {
    id: row.id,
    unitCode: row.unit_code,
    name: row.name,
    description: row.description,
    kind: appKinds.toProto(row.kind),
    acceptedContentTypes: row.accepted_content_types,
    webhookUrl: withWebhook ? (row.webhook_url ?? '') : '',
    status: appStatuses.toProto(row.status),
    createTime: timestampFromDate(row.created_at),
    updateTime: timestampFromDate(row.updated_at),
  });
}

export function toGrant(row: GrantRow): Grant {
  return create(GrantSchema, {
    id: row.id,
    subject: {
      party:
        row.subject_app_id !== null
          ? { case: 'appId', value: row.subject_app_id }
          : { case: 'unitCode', value: row.subject_unit_code ?? '' },
    },
    object: {
      object: row.object_any
        ? { case: 'anyUnit', value: true }
        : row.object_app_id !== null
          ? { case: 'appId', value: row.object_app_id }
          : { case: 'unitCode', value: row.object_unit_code ?? '' },
    },
    action: grantActions.toProto(row.action),
    ...(row.expires_at === null ? {} : { expireTime: timestampFromDate(row.expires_at) }),
    note: row.note,
    createdBy: row.created_by,
    createTime: timestampFromDate(row.created_at),
  });
}

export function toZone(row: ZoneRow): Zone {
  return create(ZoneSchema, {
    code: row.code,
    name: row.name,
    local: row.local,
    endpoint: row.endpoint,
    unitCodePatterns: row.unit_code_patterns,
    createTime: timestampFromDate(row.created_at),
    updateTime: timestampFromDate(row.updated_at),
  });
}
