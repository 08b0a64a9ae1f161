/**
 * Presence (Art. 5.9, 5.11, 5.4): Heartbeat for polling apps, the presence of
 * one app or of many, and the connection history.
 *
 * Who sees what (notification_service.proto): an app acts on its own
 * presence; the presence of another app is readable by users of that app's
 * unit, by apps that may send to it (a SEND grant), by administrators and
 * platform services. The connection history is for unit administrators
 * (their unit's apps only) and administrators (everything).
 */
import { create } from '@bufbuild/protobuf';
import { durationFromMs, timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import { type Caller, CallerKind, type Party, PartySchema } from '#gen/lgsp/common/v1/common_pb.js';
import type {
  GetPresenceRequest,
  HeartbeatRequest,
  ListConnectionHistoryRequest,
  ListPresenceRequest,
  NotificationService,
} from '#gen/lgsp/notification/v1/notification_service_pb.js';
import { type Presence, PresenceSchema, PresenceState } from '#gen/lgsp/notification/v1/resources_pb.js';
import type { App } from '#gen/lgsp/registry/v1/resources_pb.js';
import { isUnitCode, normalizeUnitCode } from '#lib/domain/unit-code.js';
import { NotFoundError, PermissionDeniedError, UnauthenticatedError, Violations } from '#lib/errors.js';
import { callerOf, isAdmin } from '#lib/rpc/caller.js';
import type { NotificationContext } from '../context.js';
import { listConnectionEvents, toConnectionEvent } from '../db/connection-events.js';
import { noticeCounts } from '../db/notices.js';
import {
  APP_ID,
  channels,
  type PresenceRecord,
  type PresenceStateName,
  presenceStates,
} from '../domain/presence.js';
import type { PresenceTracker } from '../domain/presence-tracker.js';
import { timestamp } from './checks.js';

export const PRESENCE_DEFAULT_PAGE = 100;
export const PRESENCE_MAX_PAGE = 500;
export const CLIENT_VERSION_MAX = 100;
/** 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the range a Timestamp may hold. */

export function presenceRoutes(ctx: NotificationContext): Partial<ServiceImpl<typeof NotificationService>> {
  const presence = ctx.presence;

  return {
    async heartbeat(req, handlerCtx) {
      const caller = requireApp(handlerCtx);
      const input = checkHeartbeat(req);
      const { at: now } = await presence.heartbeat({
        appId: caller.appId,
        unitCode: caller.unitCode,
        clientTime: input.clientTime,
        clientVersion: input.clientVersion === '' ? undefined : input.clientVersion,
      });
      const counts = await noticeCounts(ctx.db, caller.appId);
      return {
        serverTime: timestampFromMs(now),
        ...(input.clientTime === undefined
          ? {}
          : { clockSkew: durationFromMs(now - input.clientTime.getTime()) }),
        latestSequence: counts.latest,
        unackedCount: counts.unacked,
        presenceTimeout: durationFromMs(presence.timeoutMs),
      };
    },

    async getPresence(req, handlerCtx) {
      const caller = callerOf(handlerCtx);
      const appId = checkGetPresence(req);
      const record = await presence.get(appId);
      let unitCode = record?.unitCode;
      if (unitCode === undefined || unitCode === '') {
        const app = await ctx.registry.getApp(appId);
        if (app === undefined) {
          throw new NotFoundError('APP_NOT_FOUND', `no app ${appId}`, { app_id: appId });
        }
        unitCode = app.unitCode;
      }
      if (!(await mayReadApp(ctx, caller, appId, unitCode))) {
        throw new PermissionDeniedError(
          'PRESENCE_NOT_VISIBLE',
          `the presence of ${appId} is for its own unit, apps that may send to it and administrators`,
          { app_id: appId },
        );
      }
      return { presence: toPresence(presence, record, appId, unitCode) };
    },

    async listPresence(req, handlerCtx) {
      const caller = callerOf(handlerCtx);
      const input = checkListPresence(req);
      const all = mayReadAll(caller);
      const unitCode = input.unitCode ?? (all ? undefined : caller.unitCode);
      let entries: Array<{ appId: string; unitCode: string; record: PresenceRecord | null }>;
      if (unitCode === undefined) {
        // Administrators without a unit: every app that ever connected.
        entries = presence
          .records()
          .map((record) => ({ appId: record.appId, unitCode: record.unitCode, record }));
      } else {
        if (unitCode === '') {
          throw new PermissionDeniedError(
            'UNIT_REQUIRED',
            'name unit_code: only administrators list the presence of every unit',
          );
        }
        const apps = await visibleApps(ctx, caller, unitCode, all);
        entries = apps.map((app) => ({
          appId: app.id,
          unitCode: app.unitCode,
          record: presence.mirrored(app.id),
        }));
      }
      const now = Date.now();
      const presences = entries
        .map((e) => toPresence(presence, e.record, e.appId, e.unitCode, now))
        .filter((p) => input.state === undefined || p.state === presenceStates.toProto(input.state))
        .sort(byUnitThenApp)
        .filter((p) => input.after === undefined || byUnitThenApp(p, input.after) > 0);
      const page = presences.slice(0, input.pageSize);
      const last = page.at(-1);
      return {
        presences: page,
        nextPageToken:
          presences.length > input.pageSize && last !== undefined
            ? encodeToken({ u: last.unitCode, a: last.appId })
            : '',
      };
    },

    async listConnectionHistory(req, handlerCtx) {
      const caller = callerOf(handlerCtx);
      const input = checkListConnectionHistory(req);
      let unitCode = input.unitCode;
      if (!mayReadAll(caller)) {
        // A unit administrator (the access level let nobody else in): its own unit only.
        if (caller.unitCode === '') {
          throw new PermissionDeniedError(
            'UNIT_REQUIRED',
            'a unit administrator without a unit sees no history',
          );
        }
        if (unitCode !== undefined && unitCode !== caller.unitCode) {
          throw new PermissionDeniedError(
            'OTHER_UNIT',
            `a unit administrator sees the history of its own unit (${caller.unitCode}) only`,
            { unit_code: unitCode },
          );
        }
        if (input.appId !== undefined) {
          const app = await ctx.registry.getApp(input.appId);
          if (app === undefined) {
            throw new NotFoundError('APP_NOT_FOUND', `no app ${input.appId}`, { app_id: input.appId });
          }
          if (app.unitCode !== caller.unitCode) {
            throw new PermissionDeniedError(
              'OTHER_UNIT',
              `${input.appId} is not an app of your unit (${caller.unitCode})`,
              { app_id: input.appId },
            );
          }
        }
        unitCode = caller.unitCode;
      }
      const rows = await listConnectionEvents(
        ctx.db,
        { appId: input.appId, unitCode, from: input.from, to: input.to, beforeId: input.beforeId },
        input.pageSize + 1,
      );
      const page = rows.slice(0, input.pageSize);
      const last = page.at(-1);
      return {
        events: page.map(toConnectionEvent),
        nextPageToken:
          rows.length > input.pageSize && last !== undefined ? encodeToken({ b: String(last.id) }) : '',
      };
    },
  };
}

// ---------------------------------------------------------------------------
// Who may read what

function requireApp(ctx: HandlerContext): Caller {
  const caller = callerOf(ctx);
  if (caller.kind !== CallerKind.APP || caller.appId === '') {
    throw new PermissionDeniedError(
      'APP_REQUIRED',
      "a heartbeat keeps an app online: sign it with the app's own credential",
      { subject: caller.subject },
    );
  }
  return caller;
}

const mayReadAll = (caller: Caller) => isAdmin(caller) || caller.kind === CallerKind.SERVICE;

/** Whether `caller` may read the presence of `appId` of `unitCode`. */
async function mayReadApp(
  ctx: NotificationContext,
  caller: Caller,
  appId: string,
  unitCode: string,
): Promise<boolean> {
  if (mayReadAll(caller)) return true;
  if (caller.kind === CallerKind.APP) {
    if (caller.appId === appId) return true;
    return ctx.registry.maySend(caller.appId, partyOfApp(appId));
  }
  if (caller.kind === CallerKind.ANONYMOUS || caller.kind === CallerKind.UNSPECIFIED) {
    throw new UnauthenticatedError('AUTHENTICATION_REQUIRED', 'presence is read with a signed request');
  }
  return caller.unitCode !== '' && caller.unitCode === unitCode;
}

/** The active apps of `unitCode` whose presence `caller` may read. */
async function visibleApps(
  ctx: NotificationContext,
  caller: Caller,
  unitCode: string,
  all: boolean,
): Promise<App[]> {
  const apps = await ctx.registry.unitApps(unitCode);
  if (all || (caller.kind !== CallerKind.APP && caller.unitCode === unitCode)) return apps;
  if (caller.kind !== CallerKind.APP) {
    throw new PermissionDeniedError(
      'OTHER_UNIT',
      `you may list the presence of your own unit (${caller.unitCode || 'none'}) only`,
      { unit_code: unitCode },
    );
  }
  // An app: itself, and the apps it may send to (a grant on the unit covers them all).
  if (await ctx.registry.maySend(caller.appId, partyOfUnit(unitCode))) return apps;
  const visible: App[] = [];
  for (const app of apps) {
    if (app.id === caller.appId || (await ctx.registry.maySend(caller.appId, partyOfApp(app.id)))) {
      visible.push(app);
    }
  }
  return visible;
}

const partyOfApp = (appId: string): Party => create(PartySchema, { party: { case: 'appId', value: appId } });
const partyOfUnit = (unitCode: string): Party =>
  create(PartySchema, { party: { case: 'unitCode', value: unitCode } });

// ---------------------------------------------------------------------------
// Answers

function toPresence(
  tracker: PresenceTracker,
  record: PresenceRecord | null,
  appId: string,
  unitCode: string,
  now = Date.now(),
): Presence {
  if (record === null) {
    // Never seen: offline since an unknown time.
    return create(PresenceSchema, { appId, unitCode, state: PresenceState.OFFLINE });
  }
  const view = tracker.view(record, now);
  return create(PresenceSchema, {
    appId,
    unitCode: record.unitCode === '' ? unitCode : record.unitCode,
    state: presenceStates.toProto(record.state),
    channel: channels.toProto(record.channel),
    ...(record.transition === 0 ? {} : { since: timestampFromMs(record.since) }),
    ...(view.lastSeen === null ? {} : { lastSeenTime: timestampFromMs(view.lastSeen) }),
    ...(record.skewMs === null ? {} : { clientClockSkew: durationFromMs(Math.round(record.skewMs)) }),
    openStreams: view.openStreams,
    clientVersion: record.clientVersion,
    replica: record.replica,
  });
}

function byUnitThenApp(
  a: { unitCode: string; appId: string },
  b: { unitCode: string; appId: string },
): number {
  if (a.unitCode !== b.unitCode) return a.unitCode < b.unitCode ? -1 : 1;
  if (a.appId !== b.appId) return a.appId < b.appId ? -1 : 1;
  return 0;
}

// ---------------------------------------------------------------------------
// Checks, one per RPC, before anything happens

export interface HeartbeatInput {
  readonly clientTime: Date | undefined;
  readonly clientVersion: string;
}

export function checkHeartbeat(req: HeartbeatRequest): HeartbeatInput {
  const v = new Violations();
  const clientTime = timestamp('client_time', req.clientTime, v);
  const clientVersion = req.clientVersion.trim();
  if (clientVersion.length > CLIENT_VERSION_MAX) {
    v.add('client_version', `must be at most ${CLIENT_VERSION_MAX} characters`, 'TOO_LONG');
  }
  v.throwIfAny();
  return { clientTime, clientVersion };
}

export function checkGetPresence(req: GetPresenceRequest): string {
  const v = new Violations();
  appId('app_id', req.appId, true, v);
  v.throwIfAny();
  return req.appId;
}

export interface ListPresenceInput {
  readonly unitCode: string | undefined;
  readonly state: PresenceStateName | undefined;
  readonly pageSize: number;
  /** The last presence of the previous page. */
  readonly after: { unitCode: string; appId: string } | undefined;
}

export function checkListPresence(req: ListPresenceRequest): ListPresenceInput {
  const v = new Violations();
  const unitCode = optionalUnitCode('unit_code', req.unitCode, v);
  let state: PresenceStateName | undefined;
  if (req.state !== PresenceState.UNSPECIFIED) {
    state = presenceStates.fromProto(req.state);
    if (state === undefined) v.add('state', 'is not a presence state', 'UNKNOWN_STATE');
  }
  const pageSize = pageSizeOf(req.pageSize, v);
  let after: ListPresenceInput['after'];
  if (req.pageToken !== '') {
    const token = decodeToken(req.pageToken);
    if (typeof token?.['u'] === 'string' && typeof token['a'] === 'string') {
      after = { unitCode: token['u'], appId: token['a'] };
    } else v.add('page_token', 'is not a token returned by this API', 'PAGE_TOKEN_INVALID');
  }
  v.throwIfAny();
  return { unitCode, state, pageSize, after };
}

export interface ListConnectionHistoryInput {
  readonly appId: string | undefined;
  readonly unitCode: string | undefined;
  readonly from: Date | undefined;
  readonly to: Date | undefined;
  readonly pageSize: number;
  readonly beforeId: bigint | undefined;
}

export function checkListConnectionHistory(req: ListConnectionHistoryRequest): ListConnectionHistoryInput {
  const v = new Violations();
  const app = appId('app_id', req.appId, false, v);
  const unitCode = optionalUnitCode('unit_code', req.unitCode, v);
  const from = timestamp('from_time', req.fromTime, v);
  const to = timestamp('to_time', req.toTime, v);
  if (from !== undefined && to !== undefined && from.getTime() >= to.getTime()) {
    v.add('to_time', 'must be after from_time', 'TIME_RANGE');
  }
  const pageSize = pageSizeOf(req.pageSize, v);
  let beforeId: bigint | undefined;
  if (req.pageToken !== '') {
    const token = decodeToken(req.pageToken);
    if (typeof token?.['b'] === 'string' && /^[1-9]\d{0,18}$/.test(token['b'])) beforeId = BigInt(token['b']);
    else v.add('page_token', 'is not a token returned by this API', 'PAGE_TOKEN_INVALID');
  }
  v.throwIfAny();
  return { appId: app, unitCode, from, to, pageSize, beforeId };
}

function appId(field: string, value: string, required: boolean, v: Violations): string | undefined {
  if (value === '') {
    if (required) v.add(field, 'is required', 'REQUIRED');
    return undefined;
  }
  if (!APP_ID.test(value)) {
    v.add(field, 'must be an app id like app_5f0c3b1e9a2d4c7b', 'APP_ID_FORMAT');
    return undefined;
  }
  return value;
}

function optionalUnitCode(field: string, raw: string, v: Violations): string | undefined {
  if (raw.trim() === '') return undefined;
  const code = normalizeUnitCode(raw);
  if (!isUnitCode(code)) {
    v.add(field, 'must be a unit code NNN.NN.NN.XNN, e.g. 000.00.03.H26', 'UNIT_CODE_FORMAT');
    return undefined;
  }
  return code;
}

function pageSizeOf(pageSize: number, v: Violations): number {
  if (pageSize < 0 || pageSize > PRESENCE_MAX_PAGE) {
    v.add('page_size', `must be between 0 and ${PRESENCE_MAX_PAGE}`, 'PAGE_SIZE_RANGE');
    return PRESENCE_DEFAULT_PAGE;
  }
  return pageSize === 0 ? PRESENCE_DEFAULT_PAGE : pageSize;
}

// Page tokens are opaque to clients: base64url of a small JSON object.
function encodeToken(value: Record<string, string>): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function decodeToken(token: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
