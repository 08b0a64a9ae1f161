/**
 * Presence against the real Postgres and NATS (Art. 5.9, 5.11, 5.4): online
 * by heartbeat or by stream, offline three intervals after the last sign of
 * life or at once when the last stream closes, every transition written once
 * to the history with its reason, channel, replica, client version and clock
 * skew, and announced by one PresenceChanged event, however many replicas
 * race to notice it.
 */
import { durationMs, timestampMs } from '@bufbuild/protobuf/wkt';
import { Code } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PresenceChangeReason,
  PresenceChannel,
  PresenceState,
} from '#gen/lgsp/notification/v1/resources_pb.js';
import { expectCode, reasonOf, violatedFields } from '../../../test/support/errors.js';
import { appKey, encodeRecord, type PresenceRecord } from '../src/domain/presence.js';
import { presenceBucket } from '../src/domain/presence-tracker.js';
import {
  clientTime,
  followPresenceEvents,
  historyOf,
  INTERVAL_MS,
  type PresenceEvents,
  TIMEOUT_MS,
  transitionsOf,
  waitFor,
} from './presence.support.js';
import { asService, NotificationCluster, newApp, type Replica, sleep, subscribe } from './support.js';

let cluster: NotificationCluster;
let one: Replica;
let two: Replica;
let three: Replica;
let events: PresenceEvents;

beforeAll(async () => {
  cluster = new NotificationCluster({ presenceIntervalMs: INTERVAL_MS });
  one = await cluster.start();
  two = await cluster.start();
  three = await cluster.start();
  events = await followPresenceEvents(cluster.busPrefix);
});

afterAll(async () => {
  await events?.stop();
  await cluster?.close();
});

const eventsOf = (appId: string) => events.events.filter((e) => e.event?.appId === appId);

async function stateOf(replica: Replica, appId: string) {
  return (await replica.ctx.presence.get(appId))?.state;
}

describe('heartbeats', () => {
  it('bring an app online, keep it there, and it goes offline three intervals after the last', async () => {
    const app = newApp();
    const first = await one.client.heartbeat(
      { clientTime: clientTime(-5_000), clientVersion: 'qlvb-connector/2.3.1' },
      app.as,
    );
    // The client is 5 s behind: server minus client is +5 s.
    expect(durationMs(first.clockSkew!)).toBeGreaterThanOrEqual(4_900);
    expect(durationMs(first.clockSkew!)).toBeLessThan(6_000);
    expect(durationMs(first.presenceTimeout!)).toBe(TIMEOUT_MS);
    expect(Math.abs(timestampMs(first.serverTime!) - Date.now())).toBeLessThan(1_000);
    expect(first.latestSequence).toBe(0n);
    expect(first.unackedCount).toBe(0);

    const { presence } = await two.client.getPresence({ appId: app.appId }, app.as);
    expect(presence).toMatchObject({
      appId: app.appId,
      unitCode: '000.00.03.H26',
      state: PresenceState.ONLINE,
      channel: PresenceChannel.HEARTBEAT,
      openStreams: 0,
      clientVersion: 'qlvb-connector/2.3.1',
      replica: one.ctx.config.replicaId,
    });
    expect(durationMs(presence!.clientClockSkew!)).toBeGreaterThanOrEqual(4_900);

    // Heartbeats every interval, through any replica, for four timeouts: still one transition.
    let last = Date.now();
    for (let i = 0; i < 12; i++) {
      await sleep(INTERVAL_MS);
      await [one, two, three][i % 3]!.client.heartbeat({ clientTime: clientTime(-5_000) }, app.as);
      last = Date.now();
    }
    expect(await transitionsOf(one, app.appId)).toEqual(['online/heartbeat']);

    // Silence: offline within three intervals (and a sweep) of the last heartbeat.
    let offlineAt = 0;
    await waitFor(
      () => {
        const rec = one.ctx.presence.mirrored(app.appId);
        if (rec?.state === 'offline') offlineAt = rec.since;
        return offlineAt > 0;
      },
      TIMEOUT_MS + 2_000,
      'the app to be offline',
    );
    const detectedAfter = offlineAt - last;
    console.info(
      `presence: heartbeats stopped, offline ${detectedAfter} ms after the last (timeout ${TIMEOUT_MS} ms)`,
    );
    expect(detectedAfter).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    // A timeout and a sweep, and what a busy machine adds to timers.
    expect(detectedAfter).toBeLessThanOrEqual(TIMEOUT_MS + one.ctx.presence.sweepMs + 300);

    await waitFor(async () => (await historyOf(one, app.appId)).length === 2, 2_000, 'the offline row');
    const [online, offline] = await historyOf(one, app.appId);
    expect(online).toMatchObject({
      transition: 1,
      state: 'online',
      channel: 'heartbeat',
      reason: 'heartbeat',
      client_version: 'qlvb-connector/2.3.1',
      replica: one.ctx.config.replicaId,
      previous_duration_ms: null,
    });
    expect(Number(online!.client_clock_skew_ms)).toBeGreaterThanOrEqual(4_900);
    expect(offline).toMatchObject({
      transition: 2,
      state: 'offline',
      channel: 'heartbeat',
      reason: 'timeout',
    });
    expect(Number(offline!.client_clock_skew_ms)).toBeGreaterThanOrEqual(4_900);
    expect(Number(offline!.previous_duration_ms)).toBeGreaterThanOrEqual(12 * INTERVAL_MS);

    // One event per transition, in the outbox's transaction.
    await waitFor(() => eventsOf(app.appId).length === 2, 5_000, 'two PresenceChanged events');
    await sleep(200);
    const announced = eventsOf(app.appId);
    expect(announced.map((e) => [e.transition, e.event?.state, e.event?.reason])).toEqual([
      [1n, PresenceState.ONLINE, PresenceChangeReason.HEARTBEAT],
      [2n, PresenceState.OFFLINE, PresenceChangeReason.TIMEOUT],
    ]);
    expect(announced[1]!.event!.replica).not.toBe('');

    // A heartbeat after the silence brings it back: a third transition.
    await two.client.heartbeat({}, app.as);
    await waitFor(async () => (await historyOf(one, app.appId)).length === 3, 2_000, 'the third row');
    expect(await transitionsOf(one, app.appId)).toEqual([
      'online/heartbeat',
      'offline/timeout',
      'online/heartbeat',
    ]);
  });

  it('are written every other interval, the one kept back before the hold runs low', async () => {
    const app = newApp();
    const kv = await one.ctx.bus.kv({ bucket: presenceBucket(cluster.busPrefix) });
    let writes = 0;
    const watch = await kv.watch((change) => {
      if (change.op === 'put' && change.entry.key === appKey(app.appId)) writes++;
    });
    try {
      await one.client.heartbeat({ clientTime: clientTime(0) }, app.as);
      await waitFor(async () => (await historyOf(one, app.appId)).length === 1, 2_000, 'online');
      await sleep(200);
      writes = 0;
      // Twelve heartbeats, one per interval, all to one replica: about six writes.
      let last = 0;
      for (let i = 0; i < 12; i++) {
        await sleep(INTERVAL_MS);
        await one.client.heartbeat({ clientTime: clientTime(0) }, app.as);
        last = Date.now();
      }
      expect(writes).toBeGreaterThanOrEqual(5);
      expect(writes).toBeLessThanOrEqual(8);
      // Whether the last one was written at once or kept back, the app is offline three intervals after it.
      await waitFor(async () => (await stateOf(one, app.appId)) === 'offline', TIMEOUT_MS + 2_000, 'offline');
      const since = (await one.ctx.presence.get(app.appId))!.since;
      expect(since - last).toBeGreaterThanOrEqual(TIMEOUT_MS - 100);
      await waitFor(async () => (await historyOf(one, app.appId)).length === 2, 2_000, 'the offline row');
      expect(await transitionsOf(one, app.appId)).toEqual(['online/heartbeat', 'offline/timeout']);
    } finally {
      await watch.stop();
    }
  });

  it('are for apps signing as themselves, with a sane client time and version', async () => {
    const app = newApp();
    const refused = await expectCode(one.client.heartbeat({}, asService('transfer')), Code.PermissionDenied);
    expect(reasonOf(refused)).toBe('APP_REQUIRED');
    const bad = await expectCode(
      one.client.heartbeat(
        { clientTime: { seconds: 300_000_000_000n, nanos: 0 }, clientVersion: 'x'.repeat(101) },
        app.as,
      ),
      Code.InvalidArgument,
    );
    expect(violatedFields(bad).sort()).toEqual(['client_time', 'client_version']);
    expect(await stateOf(one, app.appId)).toBeUndefined();
  });
});

describe('streams', () => {
  it('hold an app online while one is open on any replica; the last to close takes it offline at once', async () => {
    const app = newApp();
    const a = subscribe(one, app, { clientTime: clientTime(2_000) });
    await a.ready();
    const b = subscribe(two, app);
    await b.ready();
    const { presence } = await three.client.getPresence({ appId: app.appId }, app.as);
    expect(presence).toMatchObject({
      state: PresenceState.ONLINE,
      channel: PresenceChannel.STREAM,
      openStreams: 2,
    });
    // The client is 2 s ahead: the skew is negative.
    expect(durationMs(presence!.clientClockSkew!)).toBeLessThan(-1_500);
    expect(Math.abs(timestampMs(presence!.lastSeenTime!) - Date.now())).toBeLessThan(1_000);

    // Streams outlive the timeout: the replicas' proofs of life hold them.
    await sleep(TIMEOUT_MS + 3 * INTERVAL_MS);
    expect(await stateOf(three, app.appId)).toBe('online');

    await a.close();
    await waitFor(
      async () => Object.keys((await one.ctx.presence.get(app.appId))!.streams).length === 1,
      2_000,
      'one stream left',
    );
    expect(await stateOf(one, app.appId)).toBe('online');

    const closedAt = Date.now();
    await b.close();
    await waitFor(async () => (await stateOf(one, app.appId)) === 'offline', 2_000, 'offline');
    const record = (await one.ctx.presence.get(app.appId))!;
    // At once: not at the next sweep, not after a timeout.
    expect(record.since - closedAt).toBeLessThan(INTERVAL_MS);
    await waitFor(async () => (await historyOf(one, app.appId)).length === 2, 2_000, 'two rows');
    const [online, offline] = await historyOf(one, app.appId);
    expect(online).toMatchObject({ state: 'online', channel: 'stream', reason: 'stream_opened' });
    expect(Number(online!.client_clock_skew_ms)).toBeLessThan(-1_500);
    expect(offline).toMatchObject({
      state: 'offline',
      channel: 'stream',
      reason: 'stream_closed',
      replica: two.ctx.config.replicaId,
    });
  });

  it('leave a heartbeating app online when they close, until its heartbeats stop', async () => {
    const app = newApp();
    await one.client.heartbeat({}, app.as);
    const s = subscribe(two, app);
    await s.ready();
    expect((await one.ctx.presence.get(app.appId))?.channel).toBe('stream');
    await s.close();
    await waitFor(
      async () => (await one.ctx.presence.get(app.appId))?.channel === 'heartbeat',
      2_000,
      'heartbeat',
    );
    expect(await stateOf(one, app.appId)).toBe('online');
    await waitFor(async () => (await historyOf(one, app.appId)).length === 2, TIMEOUT_MS + 2_000, 'offline');
    expect(await transitionsOf(one, app.appId)).toEqual(['online/heartbeat', 'offline/timeout']);
  });
});

describe('replicas racing', () => {
  it('record each transition exactly once', async () => {
    const apps = Array.from({ length: 12 }, () => newApp());
    // Every replica hears every app at once: one online transition each.
    await Promise.all(
      apps.flatMap((app) =>
        [one, two, three].map((r) => r.client.heartbeat({ clientTime: clientTime(0) }, app.as)),
      ),
    );
    // Then they all notice the same timeouts.
    await waitFor(
      async () => {
        for (const app of apps) if ((await stateOf(one, app.appId)) !== 'offline') return false;
        return true;
      },
      TIMEOUT_MS + 3_000,
      'every app offline',
    );
    // Streams opened and closed on all replicas at once: whatever the interleaving, one online, one offline.
    await Promise.all(
      apps.map(async (app) => {
        const streams = [one, two, three].map((r) => subscribe(r, app));
        await Promise.all(streams.map((s) => s.ready()));
        await Promise.all(streams.map((s) => s.close()));
      }),
    );
    await waitFor(
      async () => {
        for (const app of apps) if ((await historyOf(one, app.appId)).length < 4) return false;
        return true;
      },
      5_000,
      'four rows per app',
    );
    await sleep(3 * one.ctx.presence.sweepMs);
    for (const app of apps) {
      const rows = await historyOf(one, app.appId);
      expect(rows.map((r) => `${r.transition}:${r.state}/${r.reason}`)).toEqual([
        '1:online/heartbeat',
        '2:offline/timeout',
        '3:online/stream_opened',
        '4:offline/stream_closed',
      ]);
    }
    await waitFor(() => apps.every((app) => eventsOf(app.appId).length >= 4), 5_000, 'four events per app');
    for (const app of apps) expect(eventsOf(app.appId).map((e) => e.transition)).toEqual([1n, 2n, 3n, 4n]);
  });

  it('write the history row a crashed replica left pending, once', async () => {
    const app = newApp();
    await one.client.heartbeat({}, app.as);
    await waitFor(async () => (await historyOf(one, app.appId)).length === 1, 2_000, 'the first row');
    // A replica moved the app offline in the bucket and died before writing the row.
    const kv = await one.ctx.bus.kv({ bucket: presenceBucket(cluster.busPrefix) });
    const entry = (await kv.get(appKey(app.appId)))!;
    const record = JSON.parse(new TextDecoder().decode(entry.value)) as PresenceRecord;
    const at = Date.now() - 5_000;
    const crashed: PresenceRecord = {
      ...record,
      state: 'offline',
      channel: 'none',
      since: at,
      heartbeatUntil: 0,
      transition: 2,
      replica: 'crashed-replica',
      pending: {
        n: 2,
        state: 'offline',
        channel: 'heartbeat',
        reason: 'timeout',
        at,
        skewMs: null,
        replica: 'crashed-replica',
        clientVersion: '',
        clientAddress: '',
        previousMs: 1_000,
      },
    };
    await kv.update(appKey(app.appId), encodeRecord(crashed), entry.revision);
    await waitFor(async () => (await historyOf(one, app.appId)).length === 2, 3_000, 'the pending row');
    await waitFor(async () => (await one.ctx.presence.get(app.appId))?.pending === null, 3_000, 'cleared');
    const rows = await historyOf(one, app.appId);
    expect(rows[1]).toMatchObject({ transition: 2, reason: 'timeout', replica: 'crashed-replica' });
    expect(rows[1]!.occurred_at.getTime()).toBe(at);
    await waitFor(() => eventsOf(app.appId).length === 2, 5_000, 'its event');
  });
});
