/**
 * Telling the source (Art. 5.9, 5.4) through the gateway: a destination
 * offline longer than the transfer's policy allows puts one entry in the
 * status history and one DestinationOffline event per offline spell, and the
 * source gets a DESTINATION_OFFLINE notice; a destination online, or offline
 * for less, gets no warning; a transfer past its deadline expires and the
 * source gets a TRANSFER_STATUS notice saying so.
 *
 * The destination's presence comes from PresenceChanged events, published
 * here as the notification service would publish them, with an offline time
 * in the past (policies allow a minute at least).
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PresenceChangedSchema } from '#gen/lgsp/notification/v1/events_pb.js';
import {
  PresenceChangeReason,
  PresenceChannel,
  PresenceState,
} from '#gen/lgsp/notification/v1/resources_pb.js';
import { type DestinationOffline, DestinationOfflineSchema } from '#gen/lgsp/transfer/v1/events_pb.js';
import { warnOfflineDestinations } from '../../services/transfer/src/consumers/offline-warnings.js';
import type { TransferContext } from '../../services/transfer/src/context.js';
import {
  type App,
  call,
  grantSend,
  type Json,
  newApp,
  newUnit,
  ok,
  Platform,
  sendJson,
  sleep,
  TRANSFER,
  transferReaches,
  until,
} from './transfers.support.js';

const NOTIFICATION = 'lgsp.notification.v1.NotificationService';
const HOUR = 3600_000;

let platform: Platform;
let offlineEvents: { events: DestinationOffline[]; stop(): Promise<void> };

beforeAll(async () => {
  platform = await Platform.start();
  offlineEvents = await followOfflineEvents(platform.busPrefix, platform.natsUrl);
});

afterAll(async () => {
  await offlineEvents?.stop();
  await platform?.close();
});

const transferCtx = () =>
  platform.mesh.services.find((s) => s.name === 'transfer')!.context as unknown as TransferContext;

async function pair(): Promise<{ source: App; destination: App }> {
  const source = await newApp(platform, await newUnit(platform, 'Đơn vị nguồn'), 'QLVB nguồn');
  const unit = await newUnit(platform, 'Đơn vị nhận');
  const destination = await newApp(platform, unit, 'QLVB nhận');
  await grantSend(platform, source, unit);
  return { source, destination };
}

/** A PresenceChanged event as the notification service publishes it. */
async function presence(appId: string, transition: number, state: PresenceState, at: number): Promise<void> {
  const event = create(PresenceChangedSchema, {
    transition: BigInt(transition),
    event: {
      appId,
      state,
      channel: PresenceChannel.HEARTBEAT,
      reason: state === PresenceState.ONLINE ? PresenceChangeReason.HEARTBEAT : PresenceChangeReason.TIMEOUT,
      occurTime: timestampFromMs(at),
    },
  });
  await platform.mesh.bus.publish(
    `${platform.busPrefix}.notification.presence.${appId}`,
    toBinary(PresenceChangedSchema, event),
  );
  await until(
    async () => {
      const row = await transferCtx()
        .db.selectFrom('destination_presence')
        .selectAll()
        .where('app_id', '=', appId)
        .executeTakeFirst();
      return row !== undefined && row.transition >= transition;
    },
    10_000,
    `the transfer service to hear of transition ${transition} of ${appId}`,
  );
}

async function historyOf(source: App, transferId: string): Promise<Json[]> {
  const status = ok(await call(platform, TRANSFER, 'GetDeliveryStatus', { transferId }, source.signer));
  return status.history ?? [];
}

const warningsIn = (history: Json[], destination: App) =>
  history.filter(
    (h: Json) => h.actor === 'platform' && String(h.reason).includes(`destination ${destination.id}`),
  );

async function noticesOf(app: App, kind: string): Promise<Json[]> {
  const answer = ok(await call(platform, NOTIFICATION, 'ListNotices', { pageSize: 500 }, app.signer));
  return (answer.notices ?? []).filter((n: Json) => n.kind === kind);
}

describe('a destination offline longer than the policy allows', () => {
  it('puts one warning in the history, one event out, and one DESTINATION_OFFLINE notice to the source per spell', async () => {
    const { source, destination } = await pair();
    const offlineSince = Date.now() - 2 * HOUR;
    await presence(destination.id, 1, PresenceState.ONLINE, offlineSince - HOUR);
    await presence(destination.id, 2, PresenceState.OFFLINE, offlineSince);

    const transfer = await sendJson(platform, source, {
      recipients: [destination.unitCode],
      content: Buffer.from('{"hồ sơ":"khẩn"}'),
      inline: true,
      policy: { offlineThreshold: '3600s' },
    });
    const history = await until(
      async () => {
        const h = await historyOf(source, transfer.id);
        return warningsIn(h, destination).length > 0 ? h : undefined;
      },
      15_000,
      'the offline warning in the history',
    );
    const [warning] = warningsIn(history, destination);
    expect(warning.reason).toContain(new Date(offlineSince).toISOString());
    expect(warning.reason).toContain('threshold of 1h');
    expect(warning.deliveryState).toBe('DELIVERY_STATE_NOTIFIED');
    expect(warning.destinationAppId).toBe(destination.id);

    // The notice, from the event.
    const [notice] = await until(
      async () => {
        const n = await noticesOf(source, 'NOTICE_KIND_DESTINATION_OFFLINE');
        return n.length > 0 ? n : undefined;
      },
      10_000,
      'the DESTINATION_OFFLINE notice',
    );
    expect(notice.destinationOffline).toMatchObject({
      transferId: transfer.id,
      destinationAppId: destination.id,
      destinationUnitCode: destination.unitCode,
      offlineSince: new Date(offlineSince).toISOString(),
      threshold: '3600s',
    });
    const event = offlineEvents.events.find((e) => e.transferId === transfer.id);
    expect(event).toMatchObject({ sourceAppId: source.id, destinationAppId: destination.id });
    expect(event!.change?.cursor).toBe(warning.cursor);

    // Several passes later: still one of each.
    await sleep(11_000);
    expect(warningsIn(await historyOf(source, transfer.id), destination)).toHaveLength(1);
    expect(offlineEvents.events.filter((e) => e.transferId === transfer.id)).toHaveLength(1);
    expect(await noticesOf(source, 'NOTICE_KIND_DESTINATION_OFFLINE')).toHaveLength(1);

    // Back online, then offline again for long: a new spell, a second warning.
    await presence(destination.id, 3, PresenceState.ONLINE, Date.now() - 2_000);
    await presence(destination.id, 4, PresenceState.OFFLINE, Date.now() - 2 * HOUR);
    await until(
      async () => warningsIn(await historyOf(source, transfer.id), destination).length === 2,
      15_000,
      'a second warning',
    );
    await until(
      async () => (await noticesOf(source, 'NOTICE_KIND_DESTINATION_OFFLINE')).length === 2,
      10_000,
      'a second notice',
    );
    // The destination can still receive: the warning changed no state.
    const { transfer: now } = ok(
      await call(platform, TRANSFER, 'GetTransfer', { transferId: transfer.id }, source.signer),
    );
    expect(now.state).toBe('TRANSFER_STATE_DELIVERING');
  }, 60_000);

  it('is not told for a destination online, or offline for less than the threshold', async () => {
    const online = await pair();
    await presence(online.destination.id, 1, PresenceState.ONLINE, Date.now() - 3 * HOUR);
    const recent = await pair();
    await presence(recent.destination.id, 1, PresenceState.OFFLINE, Date.now() - 10 * 60_000);
    const sent = await Promise.all(
      [online, recent].map(({ source, destination }) =>
        sendJson(platform, source, {
          recipients: [destination.unitCode],
          content: Buffer.from('{}'),
          inline: true,
          policy: { offlineThreshold: '3600s' },
        }),
      ),
    );
    const warned = await warnOfflineDestinations(transferCtx());
    await sleep(6_000);
    expect(warned).toBe(0);
    for (const [i, { source, destination }] of [online, recent].entries()) {
      expect(warningsIn(await historyOf(source, sent[i].id), destination)).toHaveLength(0);
    }
  }, 30_000);

  it('counts from the delivery for a destination never seen online', async () => {
    const { source, destination } = await pair();
    const transfer = await sendJson(platform, source, {
      recipients: [destination.unitCode],
      content: Buffer.from('{}'),
      inline: true,
      policy: { offlineThreshold: '60s' },
    });
    // A minute later, as the worker will see it then.
    const warned = await warnOfflineDestinations(transferCtx(), new Date(Date.now() + 61_000));
    expect(warned).toBeGreaterThanOrEqual(1);
    const [warning] = warningsIn(await historyOf(source, transfer.id), destination);
    expect(warning.reason).toContain('has not been seen online since the delivery was created');
    const [notice] = await until(
      async () => {
        const n = (await noticesOf(source, 'NOTICE_KIND_DESTINATION_OFFLINE')).filter(
          (x: Json) => x.destinationOffline.transferId === transfer.id,
        );
        return n.length > 0 ? n : undefined;
      },
      10_000,
      'the notice',
    );
    expect(notice.destinationOffline.offlineSince).toBeUndefined();
    expect(notice.destinationOffline.threshold).toBe('60s');
  });
});

describe('a transfer past its deadline', () => {
  it('expires and the source gets a TRANSFER_STATUS notice saying so', async () => {
    const { source, destination } = await pair();
    const transfer = await sendJson(platform, source, {
      recipients: [destination.unitCode],
      content: Buffer.from('{"hạn":"gấp"}'),
      inline: true,
      policy: { deadline: new Date(Date.now() + 2_000).toISOString() },
    });
    await transferReaches(platform, source, transfer.id, 'TRANSFER_STATE_EXPIRED');
    const notices = await until(
      async () => {
        const n = (await noticesOf(source, 'NOTICE_KIND_TRANSFER_STATUS')).filter(
          (x: Json) => x.transferStatus.change.transferId === transfer.id,
        );
        return n.some((x: Json) => x.transferStatus.change.transferState === 'TRANSFER_STATE_EXPIRED')
          ? n
          : undefined;
      },
      10_000,
      'the EXPIRED notice',
    );
    const expired = notices.find(
      (x: Json) => x.transferStatus.change.transferState === 'TRANSFER_STATE_EXPIRED',
    );
    expect(expired.transferStatus.change).toMatchObject({ actor: 'platform', transferId: transfer.id });
    // The delivery's own expiry is a final state the default policy reports too.
    expect(
      notices.some((x: Json) => x.transferStatus.change.deliveryState === 'DELIVERY_STATE_EXPIRED'),
    ).toBe(true);
  });
});

/** Every DestinationOffline event of the mesh, read straight from JetStream. */
async function followOfflineEvents(busPrefix: string, natsUrl: string) {
  const nc = await connect({ servers: natsUrl });
  const js = jetstream(nc);
  const consumer = await js.consumers.get(`${busPrefix}_TRANSFER`, {
    filter_subjects: `${busPrefix}.transfer.offline.>`,
  });
  const messages = await consumer.consume();
  const events: DestinationOffline[] = [];
  const done = (async () => {
    for await (const m of messages) events.push(fromBinary(DestinationOfflineSchema, m.data));
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
