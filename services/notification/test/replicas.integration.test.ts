/**
 * Several notification replicas on one schema and one bus prefix, as pods of
 * one Deployment: an app gets its notices whichever replica holds its stream
 * and whichever handled the event; one transfer to 500 recipients notifies
 * all 500; a replica that stops while apps are subscribed loses them
 * nothing: they subscribe again to another from the last sequence they saw.
 */
import { Code } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NoticeKind } from '#gen/lgsp/notification/v1/resources_pb.js';
import type { Subscription } from '#lib/bus/bus.js';
import { reasonOf } from '../../../test/support/errors.js';
import { EVENT_ACK_WAIT_MS } from '../src/consumers/transfer-events.js';
import type { NotificationContext } from '../src/context.js';
import { createNotices } from '../src/domain/notices.js';
import {
  NotificationCluster,
  newApp,
  offerEvent,
  type Replica,
  type Subscriber,
  sleep,
  subscribe,
  until,
} from './support.js';

let cluster: NotificationCluster;
let a: Replica;
let b: Replica;

beforeAll(async () => {
  cluster = new NotificationCluster();
  a = await cluster.start();
  b = await cluster.start();
});

afterAll(async () => {
  await cluster?.close();
});

async function notify(ctx: NotificationContext, appId: string, topic: string) {
  const [notice] = await ctx.db
    .transaction()
    .execute((trx) =>
      createNotices(ctx, trx, [
        { appId, payload: { case: 'appMessage', value: { fromAppId: 'app_00000000000000aa', topic } } },
      ]),
    );
  ctx.outbox.wake();
  return notice!;
}

describe('replicas', () => {
  it("delivers a notice created on one replica to the app's stream on another", async () => {
    const app = newApp();
    const onB = subscribe(b, app);
    const onA = subscribe(a, app);
    await Promise.all([onB.ready(), onA.ready()]);
    const created = await notify(a.ctx, app.appId, 'made by A');
    await onB.waitForNotices(1);
    const again = await notify(b.ctx, app.appId, 'made by B');
    await onA.waitForNotices(2);
    await onB.waitForNotices(2);
    await Promise.all([onA.close(), onB.close()]);
    // Each stream of the app gets every notice, whichever replica holds it.
    expect(onB.notices.map((n) => n.id)).toEqual([created.id, again.id]);
    expect(onA.notices.map((n) => n.id)).toEqual([created.id, again.id]);
  });

  it('notifies 500 recipients of one transfer, each on whichever replica holds its stream', async () => {
    const apps = Array.from({ length: 500 }, () => newApp());
    const streams = apps.map((app, i) => subscribe(i % 2 === 0 ? a : b, app));
    await Promise.all(streams.map((s) => s.ready(60_000)));
    const bus = await cluster.bus();

    // Baseline in the same run: the same 500 events published to JetStream and read back by a tail.
    const baselineStream = `${cluster.busPrefix}_TRANSFER`;
    const baselineSubject = `${cluster.busPrefix}.transfer.baseline`;
    let tailed = 0;
    const tail: Subscription = await bus.tail(
      { stream: baselineStream, filterSubjects: [baselineSubject] },
      () => {
        tailed++;
      },
    );
    const events = apps.map((app, i) =>
      offerEvent({
        appId: app.appId,
        transferId: 'trf_0000000000000500',
        deliveryId: `dlv_${i.toString(16).padStart(16, '0')}`,
      }),
    );
    const baselineStart = performance.now();
    await Promise.all(events.map((e) => bus.publish(baselineSubject, e)));
    await until(() => tailed === 500, 30_000, 'the baseline tail');
    const baselineMs = performance.now() - baselineStart;
    await tail.stop();

    // The transfer service's worker publishes one DeliveryOffered per recipient (through its outbox).
    const start = performance.now();
    await Promise.all(
      apps.map((app, i) =>
        bus.publish(`${cluster.busPrefix}.transfer.offered.${app.appId}`, events[i]!, {
          msgId: `offer-${i}`,
        }),
      ),
    );
    await until(
      () => streams.every((s) => s.notices.length >= 1),
      30_000,
      '500 subscribers to get their notice',
    );
    const elapsedMs = performance.now() - start;
    console.info(
      `500-recipient fan-out: every subscriber had its NEW_DELIVERY ${elapsedMs.toFixed(0)} ms after the first offer was published ` +
        `(baseline, 500 raw JetStream publishes read back by a tail: ${baselineMs.toFixed(0)} ms)`,
    );
    await sleep(300);
    await Promise.all(streams.map((s) => s.close()));
    streams.forEach((s, i) => {
      expect(s.notices).toHaveLength(1);
      const notice = s.notices[0]!;
      expect(notice.appId).toBe(apps[i]!.appId);
      expect(notice.kind).toBe(NoticeKind.NEW_DELIVERY);
      expect(notice.sequence).toBe(1n);
    });
    const stored = await a.ctx.db
      .selectFrom('notices')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('dedup_key', 'like', 'transfer.offered:dlv_%')
      .where(
        'app_id',
        'in',
        apps.map((x) => x.appId),
      )
      .executeTakeFirstOrThrow();
    expect(Number(stored.n)).toBe(500);
    expect(elapsedMs).toBeLessThan(10_000);
  }, 120_000);

  it('loses nothing when a replica stops under subscribed apps: they resume on another', async () => {
    const victim = await cluster.start();
    const apps = Array.from({ length: 20 }, () => newApp());
    const received = new Map<string, bigint[]>(apps.map((app) => [app.appId, []]));
    const streams: Subscriber[] = [];
    let stopping = false;
    const reconnects: string[] = [];

    /** A client that keeps a stream open, moving to the survivor when its replica goes away. */
    const follow = async (app: (typeof apps)[number], first: Replica) => {
      let replica = first;
      for (;;) {
        const seen = received.get(app.appId)!;
        const last = seen.length === 0 ? 0n : seen[seen.length - 1]!;
        const s = subscribe(replica, app, { afterSequence: last });
        streams.push(s);
        let copied = 0;
        while (!s.ended && !stopping) {
          for (; copied < s.notices.length; copied++) {
            const seq = s.notices[copied]!.sequence;
            // At least once: a repeat is dropped by its sequence, as a client would.
            if (seq > (seen.at(-1) ?? 0n)) seen.push(seq);
          }
          await sleep(10);
        }
        for (; copied < s.notices.length; copied++) {
          const seq = s.notices[copied]!.sequence;
          if (seq > (seen.at(-1) ?? 0n)) seen.push(seq);
        }
        if (stopping) {
          await s.close();
          return;
        }
        const error = s.error;
        expect(error?.code, `${app.appId}: ${error?.message}`).toBe(Code.Unavailable);
        expect(reasonOf(error!)).toBe('SERVER_SHUTTING_DOWN');
        reconnects.push(app.appId);
        replica = a;
      }
    };
    const clients = apps.map((app) => follow(app, victim));
    await until(() => streams.length >= apps.length, 5_000, 'every app to subscribe');
    await Promise.all(streams.map((s) => s.ready()));

    // Notices keep coming, from events handled by whichever replica, while the victim stops.
    const perApp = 30;
    const bus = await cluster.bus();
    const producer = (async () => {
      for (let round = 1; round <= perApp; round++) {
        await Promise.all(
          apps.map((app) =>
            bus.publish(
              `${cluster.busPrefix}.transfer.offered.${app.appId}`,
              offerEvent({ appId: app.appId, deliveryId: `dlv_${round.toString(16).padStart(16, '0')}` }),
            ),
          ),
        );
        await sleep(20);
      }
    })();
    await sleep(250);
    await victim.close();
    await producer;
    // An event on its way to the stopped replica when it stopped goes to another after the ack wait.
    await until(
      () => apps.every((app) => received.get(app.appId)!.length >= perApp),
      EVENT_ACK_WAIT_MS + 15_000,
      'every app to have every notice',
    );
    stopping = true;
    await Promise.all(clients);
    expect(new Set(reconnects).size).toBe(apps.length);
    for (const app of apps) {
      expect(received.get(app.appId), app.appId).toEqual(
        Array.from({ length: perApp }, (_, i) => BigInt(i + 1)),
      );
    }
  }, 90_000);
});
