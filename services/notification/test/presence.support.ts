/**
 * What the presence suites share: replicas with a short heartbeat interval,
 * the connection history and presence records read straight from Postgres
 * and the KV bucket, the PresenceChanged events read from JetStream, and
 * callers of every kind.
 */
import { create, fromBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { CallerKind, CallerSchema } from '#gen/lgsp/common/v1/common_pb.js';
import { type PresenceChanged, PresenceChangedSchema } from '#gen/lgsp/notification/v1/events_pb.js';
import { UNIT_ADMIN_ROLE } from '#lib/rpc/access.js';
import { ADMIN_ROLE, CALLER_HEADER, encodeCaller } from '#lib/rpc/caller.js';
import { TEST_NATS_URL } from '../../../test/support/env.js';
import type { ConnectionEventRow } from '../src/db/connection-events.js';
import type { Replica } from './support.js';

/** Small, so that a timeout (three intervals) takes well under a second. */
export const INTERVAL_MS = 300;
export const TIMEOUT_MS = 3 * INTERVAL_MS;

export type CallOptions = { headers: Record<string, string> };

export function as(caller: MessageInitShape<typeof CallerSchema>): CallOptions {
  return { headers: { [CALLER_HEADER]: encodeCaller(create(CallerSchema, caller)) } };
}

export const asAdmin = () => as({ kind: CallerKind.OPERATOR, subject: 'operator:test', roles: [ADMIN_ROLE] });
export const asUser = (unitCode: string) => as({ kind: CallerKind.USER, subject: 'user:test', unitCode });
export const asUnitAdmin = (unitCode: string) =>
  as({ kind: CallerKind.USER, subject: 'user:unit-admin', unitCode, roles: [UNIT_ADMIN_ROLE] });

/** The app's connection history, oldest first. */
export async function historyOf(replica: Replica, appId: string): Promise<ConnectionEventRow[]> {
  return replica.ctx.db
    .selectFrom('connection_events')
    .selectAll()
    .where('app_id', '=', appId)
    .orderBy('transition')
    .execute();
}

/** `state/reason` of each transition, oldest first. */
export async function transitionsOf(replica: Replica, appId: string): Promise<string[]> {
  return (await historyOf(replica, appId)).map((r) => `${r.state}/${r.reason}`);
}

export const clientTime = (offsetMs: number) => timestampFromMs(Date.now() + offsetMs);

export interface PresenceEvents {
  readonly events: PresenceChanged[];
  stop(): Promise<void>;
}

/** Every PresenceChanged event of the suite's prefix, from the start of the stream. */
export async function followPresenceEvents(busPrefix: string): Promise<PresenceEvents> {
  const nc = await connect({ servers: TEST_NATS_URL });
  const js = jetstream(nc);
  const consumer = await js.consumers.get(`${busPrefix}_NOTIFICATION`, {
    filter_subjects: `${busPrefix}.notification.presence.>`,
  });
  const messages = await consumer.consume();
  const events: PresenceChanged[] = [];
  const done = (async () => {
    for await (const m of messages) events.push(fromBinary(PresenceChangedSchema, m.data));
  })();
  return {
    events,
    async stop() {
      await messages.close();
      await done.catch(() => undefined);
      await nc.close();
    },
  };
}

/** Polls an async condition every 20 ms until it holds, failing after `timeoutMs` with what was awaited. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
