/**
 * The connection history (Art. 5.11, 5.12): one row per online/offline
 * transition of an app, and its PresenceChanged event, written in one
 * transaction. A transition is written once whichever replica (or how many)
 * tries: the row is keyed by app and transition number, and the event is
 * enqueued only by the insert that created the row.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { durationFromMs, timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { Kysely, Selectable } from 'kysely';
import { PresenceChangedSchema } from '#gen/lgsp/notification/v1/events_pb.js';
import { type ConnectionEvent, ConnectionEventSchema } from '#gen/lgsp/notification/v1/resources_pb.js';
import { enqueueEvent } from '#lib/db/outbox.js';
import { subjectOf } from '#lib/infra.js';
import { changeReasons, channels, presenceStates, type Transition } from '../domain/presence.js';
import type { ConnectionEventTable, NotificationDatabase } from './schema.js';

type Db = Kysely<NotificationDatabase>;
export type ConnectionEventRow = Selectable<ConnectionEventTable>;

export const presenceSubject = (prefix: string, appId: string) =>
  subjectOf(prefix, 'notification', 'presence', appId);
export const presenceSubjects = (prefix: string) => subjectOf(prefix, 'notification', 'presence', '>');

/**
 * Writes transition `t` of `appId` and its event unless it is there already;
 * true when this call wrote it.
 */
export async function recordTransition(
  db: Db,
  prefix: string,
  appId: string,
  unitCode: string,
  t: Transition,
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .insertInto('connection_events')
      .values({
        app_id: appId,
        unit_code: unitCode,
        transition: t.n,
        state: t.state,
        channel: t.channel,
        reason: t.reason,
        occurred_at: new Date(t.at),
        client_clock_skew_ms: t.skewMs === null ? null : Math.round(t.skewMs),
        client_version: t.clientVersion,
        client_address: t.clientAddress,
        replica: t.replica,
        previous_duration_ms: t.previousMs === null ? null : Math.round(t.previousMs),
      })
      .onConflict((oc) => oc.columns(['app_id', 'transition']).doNothing())
      .returningAll()
      .executeTakeFirst();
    if (row === undefined) return false;
    await enqueueEvent<NotificationDatabase>(trx, {
      subject: presenceSubject(prefix, appId),
      payload: toBinary(
        PresenceChangedSchema,
        create(PresenceChangedSchema, { event: toConnectionEvent(row), transition: BigInt(t.n) }),
      ),
      headers: { 'lgsp-presence-state': t.state },
    });
    return true;
  });
}

export interface HistoryFilter {
  readonly appId?: string | undefined;
  readonly unitCode?: string | undefined;
  /** At or after. */
  readonly from?: Date | undefined;
  /** Before. */
  readonly to?: Date | undefined;
  /** Only rows with a smaller id (the page token). */
  readonly beforeId?: bigint | undefined;
}

/** Newest first (by id, which grows with every row written). */
export async function listConnectionEvents(
  db: Db,
  filter: HistoryFilter,
  limit: number,
): Promise<ConnectionEventRow[]> {
  let query = db.selectFrom('connection_events').selectAll();
  if (filter.appId !== undefined) query = query.where('app_id', '=', filter.appId);
  if (filter.unitCode !== undefined) query = query.where('unit_code', '=', filter.unitCode);
  if (filter.from !== undefined) query = query.where('occurred_at', '>=', filter.from);
  if (filter.to !== undefined) query = query.where('occurred_at', '<', filter.to);
  if (filter.beforeId !== undefined) query = query.where('id', '<', Number(filter.beforeId));
  return query.orderBy('id', 'desc').limit(limit).execute();
}

export function toConnectionEvent(row: ConnectionEventRow): ConnectionEvent {
  return create(ConnectionEventSchema, {
    id: BigInt(row.id),
    appId: row.app_id,
    unitCode: row.unit_code,
    state: presenceStates.toProto(row.state),
    channel: channels.toProto(row.channel),
    reason: changeReasons.toProto(row.reason),
    occurTime: timestampFromDate(row.occurred_at),
    ...(row.client_clock_skew_ms === null
      ? {}
      : { clientClockSkew: durationFromMs(row.client_clock_skew_ms) }),
    clientAddress: row.client_address,
    ...(row.previous_duration_ms === null
      ? {}
      : { previousDuration: durationFromMs(row.previous_duration_ms) }),
    replica: row.replica,
    clientVersion: row.client_version,
  });
}
