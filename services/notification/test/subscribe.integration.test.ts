/**
 * Subscribe against the real Postgres and NATS: a heartbeat, the replay of
 * what waits, then live notices, in sequence order; resuming from the last
 * sequence seen loses nothing and repeats nothing; notices whose event is
 * late or lost still arrive; the stream ends cleanly on either side.
 */
import { Code, ConnectError } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NoticeKind } from '#gen/lgsp/notification/v1/resources_pb.js';
import { expectCode, reasonOf, violatedFields } from '../../../test/support/errors.js';
import { noticeOfOffer } from '../src/consumers/transfer-events.js';
import type { NotificationContext } from '../src/context.js';
import { createNotices, type NoticeDraft } from '../src/domain/notices.js';
import type { OpenedStream, StreamEnd, StreamHooks } from '../src/domain/stream-hooks.js';
import {
  asService,
  NotificationCluster,
  newApp,
  offerEvent,
  type Replica,
  seconds,
  sleep,
  subscribe,
  until,
} from './support.js';

let cluster: NotificationCluster;
let replica: Replica;

beforeAll(async () => {
  cluster = new NotificationCluster();
  replica = await cluster.start();
});

afterAll(async () => {
  await cluster?.close();
});

const message = (appId: string, topic: string): NoticeDraft => ({
  appId,
  payload: { case: 'appMessage', value: { fromAppId: 'app_00000000000000aa', topic } },
});

/** Creates `count` notices for the app in one transaction, as a producer would, and wakes the relay. */
async function notify(ctx: NotificationContext, appId: string, count = 1) {
  const created = await ctx.db.transaction().execute((trx) =>
    createNotices(
      ctx,
      trx,
      Array.from({ length: count }, (_, i) => message(appId, `t${i}`)),
    ),
  );
  ctx.outbox.wake();
  return created;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => BigInt(from + i));

describe('Subscribe', () => {
  it('sends a heartbeat, then the notices that wait, then new ones as they come', async () => {
    const app = newApp();
    await notify(replica.ctx, app.appId, 3);
    const s = subscribe(replica, app);
    await s.waitForNotices(3);
    await notify(replica.ctx, app.appId, 2);
    await s.waitForNotices(5);
    await s.close();
    expect(s.trace).toEqual(['hb', 'n1', 'n2', 'n3', 'n4', 'n5']);
    expect(s.heartbeats[0]).toMatchObject({ latestSequence: 3n, unackedCount: 3 });
    expect(s.heartbeats[0]!.serverTime).toBeDefined();
    expect(s.notices.every((n) => n.appId === app.appId && n.kind === NoticeKind.APP_MESSAGE)).toBe(true);
  });

  it('resumes after the last sequence seen: nothing lost, nothing repeated; acknowledged notices stay away', async () => {
    const app = newApp();
    await notify(replica.ctx, app.appId, 5);
    const first = subscribe(replica, app);
    await first.waitForNotices(5);
    await first.close();
    // Created while the app is away.
    await notify(replica.ctx, app.appId, 3);
    const second = subscribe(replica, app, { afterSequence: first.last() });
    await second.waitForNotices(3);
    await notify(replica.ctx, app.appId, 1);
    await second.waitForNotices(4);
    await second.close();
    expect(second.sequences()).toEqual(range(6, 9));

    await replica.client.ackNotices({ upToSequence: 6n }, app.as);
    const third = subscribe(replica, app);
    await third.waitForNotices(3);
    await sleep(200);
    await third.close();
    expect(third.sequences()).toEqual(range(7, 9));
    expect(third.heartbeats[0]).toMatchObject({ latestSequence: 9n, unackedCount: 3 });
  });

  it('loses and repeats nothing while notices are created as streams open', async () => {
    const app = newApp();
    const total = 120;
    const writer = (async () => {
      for (let i = 0; i < total; i += 4) {
        await notify(replica.ctx, app.appId, 4);
        await sleep(5);
      }
    })();
    const streams = [];
    for (let i = 0; i < 12; i++) {
      streams.push(subscribe(replica, app));
      await sleep(15);
    }
    await writer;
    for (const s of streams) {
      await s.waitForNotices(total, 15_000);
      await s.close();
      // Every notice once, in order.
      expect(s.sequences()).toEqual(range(1, total));
    }
  });

  it('reads from Postgres a notice whose event is late, before the next one, keeping the order', async () => {
    const app = newApp();
    const s = subscribe(replica, app);
    await s.ready();
    // Notice 1 is committed but its event is held back (deleted from the outbox here).
    await replica.ctx.db.transaction().execute(async (trx) => {
      const [held] = await createNotices(replica.ctx, trx, [message(app.appId, 'held back')]);
      await trx
        .deleteFrom('outbox')
        .where('headers', '@>', JSON.stringify({ 'lgsp-notice-id': held!.id }) as never)
        .execute();
    });
    await notify(replica.ctx, app.appId, 1);
    await s.waitForNotices(2);
    await s.close();
    expect(s.trace).toEqual(['hb', 'n1', 'n2']);
  });

  it('sends heartbeats at the asked interval, and catches up with what the fan-out never brought', async () => {
    const app = newApp();
    const s = subscribe(replica, app, { heartbeatInterval: seconds(5) });
    await s.ready();
    await replica.ctx.db.transaction().execute(async (trx) => {
      const [lost] = await createNotices(replica.ctx, trx, [message(app.appId, 'event lost')]);
      await trx
        .deleteFrom('outbox')
        .where('headers', '@>', JSON.stringify({ 'lgsp-notice-id': lost!.id }) as never)
        .execute();
    });
    await s.waitForNotices(1, 8_000);
    await until(() => s.heartbeats.length >= 2, 2_000, 'the second heartbeat');
    await s.close();
    expect(s.trace).toEqual(['hb', 'n1', 'hb']);
    expect(s.heartbeats[1]).toMatchObject({ latestSequence: 1n, unackedCount: 1 });
  }, 20_000);

  it('sends only the kinds asked for, in the replay and live', async () => {
    const app = newApp();
    await notify(replica.ctx, app.appId, 2);
    await noticeOfOffer(replica.ctx, {
      subject: 't',
      data: offerEvent({ appId: app.appId }),
      headers: {},
      seq: 1,
      deliveryCount: 1,
    });
    replica.ctx.outbox.wake();
    const s = subscribe(replica, app, { kinds: [NoticeKind.NEW_DELIVERY] });
    await s.waitForNotices(1);
    await notify(replica.ctx, app.appId, 2);
    await noticeOfOffer(replica.ctx, {
      subject: 't',
      data: offerEvent({ appId: app.appId }),
      headers: {},
      seq: 2,
      deliveryCount: 1,
    });
    replica.ctx.outbox.wake();
    await s.waitForNotices(2);
    await sleep(200);
    await s.close();
    expect(s.sequences()).toEqual([3n, 6n]);
    expect(s.notices.every((n) => n.kind === NoticeKind.NEW_DELIVERY)).toBe(true);
  });

  it('refuses bad requests before it streams anything', async () => {
    const app = newApp();
    const collect = async (request: object, options: { headers: Record<string, string> }) => {
      for await (const _ of replica.client.subscribe(request, options)) {
        // A refused stream sends nothing before its error.
        throw new Error('the stream sent a message');
      }
    };
    const bad = await expectCode(
      collect({ heartbeatInterval: seconds(2), kinds: [NoticeKind.UNSPECIFIED] }, app.as),
      Code.InvalidArgument,
    );
    expect(violatedFields(bad).sort()).toEqual(['heartbeat_interval', 'kinds[0]']);
    await expectCode(collect({ heartbeatInterval: seconds(121) }, app.as), Code.InvalidArgument);
    const ahead = await expectCode(collect({ afterSequence: 5n }, app.as), Code.OutOfRange);
    expect(reasonOf(ahead)).toBe('AFTER_SEQUENCE_AHEAD');
    const service = await expectCode(collect({}, asService('transfer')), Code.PermissionDenied);
    expect(reasonOf(service)).toBe('APP_REQUIRED');
    await expectCode(collect({}, { headers: {} }), Code.Unauthenticated);
  });

  it('tells the presence hook when a stream opens and how it ended', async () => {
    const opened: OpenedStream[] = [];
    const ended: StreamEnd[] = [];
    const hooks: StreamHooks = {
      streamOpened: async (stream) => {
        opened.push(stream);
        return async (end) => {
          ended.push(end);
        };
      },
    };
    const other = await cluster.start();
    (other.ctx as { streamHooks: StreamHooks }).streamHooks = hooks;
    const app = newApp();
    const clientTime = new Date(Date.now() - 4_000);
    const s = subscribe(other, app, {
      clientTime: { seconds: BigInt(Math.floor(clientTime.getTime() / 1000)), nanos: 0 },
    });
    await s.ready();
    expect(opened).toHaveLength(1);
    expect(opened[0]).toMatchObject({ appId: app.appId, unitCode: '000.00.03.H26' });
    expect(Math.abs(opened[0]!.clientTime!.getTime() - clientTime.getTime())).toBeLessThan(1_000);
    await s.close();
    await until(() => ended.length === 1, 5_000, 'the end of the stream');
    expect(ended).toEqual(['client_gone']);

    // A refused stream never opened.
    await expectCode(
      (async () => {
        for await (const _ of other.client.subscribe({ afterSequence: 99n }, app.as));
      })(),
      Code.OutOfRange,
    );
    expect(opened).toHaveLength(1);

    const live = subscribe(other, app);
    await live.ready();
    await other.close();
    await until(() => ended.length === 2, 5_000, 'the end of the second stream');
    expect(ended[1]).toBe('server_closed');
  });

  it('ends with UNAVAILABLE when the replica shuts down, and the shutdown does not wait for the streams', async () => {
    const other = await cluster.start();
    const app = newApp();
    const streams = [subscribe(other, app), subscribe(other, app), subscribe(other, newApp())];
    await Promise.all(streams.map((s) => s.ready()));
    const started = Date.now();
    await other.close();
    expect(Date.now() - started).toBeLessThan(5_000);
    for (const s of streams) {
      const error = await s.waitForEnd();
      expect(error, 'the stream ended with an error').toBeInstanceOf(ConnectError);
      expect(Code[error!.code]).toBe('Unavailable');
      expect(reasonOf(error!)).toBe('SERVER_SHUTTING_DOWN');
    }
    expect(other.ctx.hub.streamCount).toBe(0);
  });
});
