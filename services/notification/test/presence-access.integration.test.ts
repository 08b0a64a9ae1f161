/**
 * Who sees which presence and which connection history (the access rules of
 * notification_service.proto), with a real registry for the apps of a unit
 * and the SEND grants: an app sees itself and the apps it may send to; users
 * see their own unit; unit administrators read their own unit's history;
 * administrators see everything. Lists are paginated; bad requests name
 * their fields.
 */
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Code } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Presence,
  PresenceChangeReason,
  PresenceState,
} from '#gen/lgsp/notification/v1/resources_pb.js';
import { AppKind, GrantAction } from '#gen/lgsp/registry/v1/resources_pb.js';
import { asAdmin as asRegistryAdmin } from '../../../test/support/callers.js';
import { expectCode, reasonOf, violatedFields } from '../../../test/support/errors.js';
import { startTestRegistry } from '../../registry/test/support.js';
import { asAdmin, asUnitAdmin, asUser, type CallOptions, historyOf, waitFor } from './presence.support.js';
import { asApp, NotificationCluster, type Replica, subscribe } from './support.js';

const U1 = '000.00.03.H26';
const U2 = '000.00.02.H26';
const U3 = '000.00.04.H26';

type TestRegistry = Awaited<ReturnType<typeof startTestRegistry>>;
interface TestApp {
  readonly appId: string;
  readonly unitCode: string;
  readonly as: CallOptions;
}

let registry: TestRegistry;
let cluster: NotificationCluster;
let replica: Replica;
/** U1's apps: a1 heartbeats, a2 never connects. b1 (U2) may send to a1; c1 (U3) may send to all of U1. */
let a1: TestApp;
let a2: TestApp;
let b1: TestApp;
let c1: TestApp;

async function register(unitCode: string, name: string): Promise<TestApp> {
  const { app } = await registry.client.registerApp(
    { unitCode, name, kind: AppKind.DOCUMENT_SYSTEM, acceptedContentTypes: ['application/json'] },
    asRegistryAdmin(),
  );
  return { appId: app!.id, unitCode, as: asApp(app!.id, unitCode) };
}

async function grantSend(subject: TestApp, object: { appId: string } | { unitCode: string }): Promise<void> {
  await registry.client.createGrant(
    {
      subject: { party: { case: 'appId', value: subject.appId } },
      object: {
        object:
          'appId' in object
            ? { case: 'appId', value: object.appId }
            : { case: 'unitCode', value: object.unitCode },
      },
      action: GrantAction.SEND,
      note: 'presence test',
    },
    asRegistryAdmin(),
  );
}

beforeAll(async () => {
  registry = await startTestRegistry();
  cluster = new NotificationCluster({
    // Long: the single heartbeats below must hold their apps online for the whole suite.
    presenceIntervalMs: 10 * 60_000,
    registryAddr: new URL(registry.running.url).host,
  });
  replica = await cluster.start();
  a1 = await register(U1, 'QLVB Sở Tài chính');
  a2 = await register(U1, 'Cổng dữ liệu Sở Tài chính');
  b1 = await register(U2, 'QLVB Sở Nội vụ');
  c1 = await register(U3, 'QLVB Sở KH&ĐT');
  await grantSend(b1, { appId: a1.appId });
  await grantSend(c1, { unitCode: U1 });
  // History: a1 online by heartbeat; b1 online by stream then offline; c1 online by heartbeat.
  await replica.client.heartbeat({ clientVersion: 'a1/1.0' }, a1.as);
  const stream = subscribe(replica, b1);
  await stream.ready();
  await stream.close();
  await replica.client.heartbeat({}, c1.as);
  await waitFor(
    async () =>
      (await historyOf(replica, a1.appId)).length === 1 &&
      (await historyOf(replica, b1.appId)).length === 2 &&
      (await historyOf(replica, c1.appId)).length === 1,
    5_000,
    'the history',
  );
});

afterAll(async () => {
  await cluster?.close();
  await registry?.close();
});

const get = (of: TestApp, as: CallOptions) => replica.client.getPresence({ appId: of.appId }, as);

describe('GetPresence', () => {
  it('shows an app its own presence, and another app to those allowed', async () => {
    const own = (await get(a1, a1.as)).presence!;
    expect(own).toMatchObject({
      appId: a1.appId,
      unitCode: U1,
      state: PresenceState.ONLINE,
      clientVersion: 'a1/1.0',
    });
    // b1 holds a SEND grant on a1; c1 on all of U1; users of U1; administrators.
    for (const as of [b1.as, c1.as, asUser(U1), asAdmin()]) {
      expect((await get(a1, as)).presence?.state).toBe(PresenceState.ONLINE);
    }
    // a2 never connected: offline, since unknown.
    const never = (await get(a2, c1.as)).presence!;
    expect(never).toMatchObject({
      appId: a2.appId,
      unitCode: U1,
      state: PresenceState.OFFLINE,
      openStreams: 0,
    });
    expect(never.since).toBeUndefined();
    expect(never.lastSeenTime).toBeUndefined();
  });

  it('refuses the others, and names what is wrong', async () => {
    // Same unit is not enough for an app; no grant on a2 for b1; users of another unit.
    for (const [of, as] of [
      [a1, a2.as],
      [a2, b1.as],
      [a1, asUser(U2)],
      [b1, a1.as],
    ] as const) {
      const refused = await expectCode(get(of, as), Code.PermissionDenied);
      expect(reasonOf(refused)).toBe('PRESENCE_NOT_VISIBLE');
    }
    const unknown = await expectCode(
      replica.client.getPresence({ appId: 'app_00000000000000ff' }, asAdmin()),
      Code.NotFound,
    );
    expect(reasonOf(unknown)).toBe('APP_NOT_FOUND');
    const bad = await expectCode(
      replica.client.getPresence({ appId: 'APP-1' }, asAdmin()),
      Code.InvalidArgument,
    );
    expect(violatedFields(bad)).toEqual(['app_id']);
    await expectCode(replica.client.getPresence({ appId: a1.appId }, {}), Code.Unauthenticated);
  });
});

describe('ListPresence', () => {
  const ids = (presences: Presence[]) => presences.map((p) => p.appId);

  it('lists a unit, every app of it even one never seen, ordered by unit then app, by state, page by page', async () => {
    const u1 = [a1.appId, a2.appId].sort();
    const all = await replica.client.listPresence({ unitCode: U1 }, asAdmin());
    expect(ids(all.presences)).toEqual(u1);
    expect(all.nextPageToken).toBe('');
    const online = await replica.client.listPresence(
      { unitCode: U1, state: PresenceState.ONLINE },
      asAdmin(),
    );
    expect(ids(online.presences)).toEqual([a1.appId]);
    const offline = await replica.client.listPresence(
      { unitCode: U1, state: PresenceState.OFFLINE },
      asAdmin(),
    );
    expect(ids(offline.presences)).toEqual([a2.appId]);

    const first = await replica.client.listPresence({ unitCode: U1, pageSize: 1 }, asAdmin());
    expect(ids(first.presences)).toEqual([u1[0]]);
    expect(first.nextPageToken).not.toBe('');
    const second = await replica.client.listPresence(
      { unitCode: U1, pageSize: 1, pageToken: first.nextPageToken },
      asAdmin(),
    );
    expect(ids(second.presences)).toEqual([u1[1]]);
    expect(second.nextPageToken).toBe('');
  });

  it('lists every app that ever connected for an administrator, by unit code then app', async () => {
    const { presences } = await replica.client.listPresence({}, asAdmin());
    expect(presences.map((p) => [p.unitCode, p.appId])).toEqual(
      [b1, a1, c1].map((a) => [a.unitCode, a.appId]).sort((x, y) => (x.join() < y.join() ? -1 : 1)),
    );
    const online = await replica.client.listPresence({ state: PresenceState.ONLINE }, asAdmin());
    expect(ids(online.presences).sort()).toEqual([a1.appId, c1.appId].sort());
  });

  it('confines users to their unit and apps to what they may send to', async () => {
    expect(ids((await replica.client.listPresence({}, asUser(U1))).presences)).toEqual(
      [a1.appId, a2.appId].sort(),
    );
    const other = await expectCode(
      replica.client.listPresence({ unitCode: U2 }, asUser(U1)),
      Code.PermissionDenied,
    );
    expect(reasonOf(other)).toBe('OTHER_UNIT');
    // c1's grant covers the unit; b1's one app of it; an app without a unit named sees its own unit.
    expect(ids((await replica.client.listPresence({ unitCode: U1 }, c1.as)).presences)).toEqual(
      [a1.appId, a2.appId].sort(),
    );
    expect(ids((await replica.client.listPresence({ unitCode: U1 }, b1.as)).presences)).toEqual([a1.appId]);
    expect(ids((await replica.client.listPresence({}, b1.as)).presences)).toEqual([b1.appId]);
    expect(ids((await replica.client.listPresence({ unitCode: U2 }, a1.as)).presences)).toEqual([]);
  });

  it('refuses a malformed request, naming every field', async () => {
    const bad = await expectCode(
      replica.client.listPresence(
        { unitCode: '000.00.3', pageSize: 501, pageToken: '%%%', state: 7 as PresenceState },
        asAdmin(),
      ),
      Code.InvalidArgument,
    );
    expect(violatedFields(bad).sort()).toEqual(['page_size', 'page_token', 'state', 'unit_code']);
  });
});

describe('ListConnectionHistory', () => {
  it('shows an administrator everything, newest first, page by page and by time', async () => {
    const { events } = await replica.client.listConnectionHistory({}, asAdmin());
    expect(events.map((e) => [e.appId, e.state, e.reason])).toEqual([
      [c1.appId, PresenceState.ONLINE, PresenceChangeReason.HEARTBEAT],
      [b1.appId, PresenceState.OFFLINE, PresenceChangeReason.STREAM_CLOSED],
      [b1.appId, PresenceState.ONLINE, PresenceChangeReason.STREAM_OPENED],
      [a1.appId, PresenceState.ONLINE, PresenceChangeReason.HEARTBEAT],
    ]);
    expect(events[3]).toMatchObject({
      unitCode: U1,
      clientVersion: 'a1/1.0',
      replica: replica.ctx.config.replicaId,
    });
    expect(events[1]!.previousDuration).toBeDefined();

    const seen: bigint[] = [];
    let pageToken = '';
    do {
      const page = await replica.client.listConnectionHistory({ pageSize: 1, pageToken }, asAdmin());
      seen.push(...page.events.map((e) => e.id));
      pageToken = page.nextPageToken;
    } while (pageToken !== '');
    expect(seen).toEqual(events.map((e) => e.id));

    const b1Only = await replica.client.listConnectionHistory({ appId: b1.appId }, asAdmin());
    expect(b1Only.events).toHaveLength(2);
    const u3 = await replica.client.listConnectionHistory({ unitCode: U3 }, asAdmin());
    expect(u3.events.map((e) => e.appId)).toEqual([c1.appId]);
    const b1Online = events[2]!.occurTime!;
    const window = await replica.client.listConnectionHistory(
      { fromTime: b1Online, toTime: events[0]!.occurTime! },
      asAdmin(),
    );
    expect(window.events.map((e) => e.id)).toEqual([events[1]!.id, events[2]!.id]);
    const future = await replica.client.listConnectionHistory(
      { fromTime: timestampFromMs(Date.now() + 60_000) },
      asAdmin(),
    );
    expect(future.events).toEqual([]);
  });

  it("confines a unit administrator to its own unit's apps", async () => {
    const { events } = await replica.client.listConnectionHistory({}, asUnitAdmin(U2));
    expect(events.map((e) => e.appId)).toEqual([b1.appId, b1.appId]);
    expect(
      (await replica.client.listConnectionHistory({ appId: b1.appId }, asUnitAdmin(U2))).events,
    ).toHaveLength(2);
    const otherUnit = await expectCode(
      replica.client.listConnectionHistory({ unitCode: U1 }, asUnitAdmin(U2)),
      Code.PermissionDenied,
    );
    expect(reasonOf(otherUnit)).toBe('OTHER_UNIT');
    const otherApp = await expectCode(
      replica.client.listConnectionHistory({ appId: a1.appId }, asUnitAdmin(U2)),
      Code.PermissionDenied,
    );
    expect(reasonOf(otherApp)).toBe('OTHER_UNIT');
    // Apps and users without the role are refused by the access level.
    await expectCode(replica.client.listConnectionHistory({}, a1.as), Code.PermissionDenied);
    await expectCode(replica.client.listConnectionHistory({}, asUser(U1)), Code.PermissionDenied);
  });

  it('refuses a malformed request, naming every field', async () => {
    const now = Date.now();
    const bad = await expectCode(
      replica.client.listConnectionHistory(
        {
          appId: 'nope',
          unitCode: 'x',
          fromTime: timestampFromMs(now),
          toTime: timestampFromMs(now - 1),
          pageSize: -1,
          pageToken: 'e30',
        },
        asAdmin(),
      ),
      Code.InvalidArgument,
    );
    expect(violatedFields(bad).sort()).toEqual(['app_id', 'page_size', 'page_token', 'to_time', 'unit_code']);
  });
});
