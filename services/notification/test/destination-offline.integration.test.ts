/**
 * DESTINATION_OFFLINE notices (Art. 5.9) from the transfer service's
 * DestinationOffline events: the source's stream gets one, whatever the
 * redeliveries; an event that does not decode or names no source is dropped.
 */
import { randomBytes } from 'node:crypto';
import { create, toBinary } from '@bufbuild/protobuf';
import { durationFromMs, durationMs, timestampFromMs, timestampMs } from '@bufbuild/protobuf/wkt';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { NoticeKind } from '#gen/lgsp/notification/v1/resources_pb.js';
import { DestinationOfflineSchema } from '#gen/lgsp/transfer/v1/events_pb.js';
import { DeliveryState, TransferState } from '#gen/lgsp/transfer/v1/resources_pb.js';
import { NotificationCluster, newApp, type Replica, sleep, subscribe } from './support.js';

let cluster: NotificationCluster;
let replica: Replica;

beforeAll(async () => {
  cluster = new NotificationCluster();
  replica = await cluster.start();
});

afterAll(async () => {
  await cluster?.close();
});

it('gives the source one DESTINATION_OFFLINE notice per warning, however often the event comes', async () => {
  const source = newApp();
  const destination = newApp('000.00.04.H26');
  const stream = subscribe(replica, source);
  await stream.ready();
  const offlineSince = Date.now() - 2 * 3600_000;
  const event = toBinary(
    DestinationOfflineSchema,
    create(DestinationOfflineSchema, {
      sourceAppId: source.appId,
      transferId: `trf_${randomBytes(8).toString('hex')}`,
      deliveryId: `dlv_${randomBytes(8).toString('hex')}`,
      destinationAppId: destination.appId,
      destinationUnitCode: '000.00.04.H26',
      offlineSince: timestampFromMs(offlineSince),
      threshold: durationFromMs(3600_000),
      change: {
        cursor: '4242',
        transferState: TransferState.DELIVERING,
        deliveryState: DeliveryState.NOTIFIED,
        actor: 'platform',
        reason: 'destination offline',
      },
    }),
  );
  const bus = await cluster.bus();
  const subject = `${cluster.busPrefix}.transfer.offline.${source.appId}`;
  // Garbage first: dropped, not redelivered forever, and it blocks nothing.
  await bus.publish(subject, new Uint8Array([0xff, 0xff, 0xff]));
  for (let i = 0; i < 3; i++) await bus.publish(subject, event, { msgId: randomBytes(8).toString('hex') });

  const [notice] = await stream.waitForNotices(1);
  expect(notice!.kind).toBe(NoticeKind.DESTINATION_OFFLINE);
  const payload = notice!.payload;
  if (payload.case !== 'destinationOffline') throw new Error(`a ${payload.case} notice`);
  expect(payload.value).toMatchObject({
    transferId: expect.stringMatching(/^trf_/),
    destinationAppId: destination.appId,
    destinationUnitCode: '000.00.04.H26',
  });
  expect(timestampMs(payload.value.offlineSince!)).toBe(offlineSince);
  expect(durationMs(payload.value.threshold!)).toBe(3600_000);

  await sleep(1_000);
  expect(stream.notices).toHaveLength(1);
  const rows = await replica.ctx.db
    .selectFrom('notices')
    .select(['kind'])
    .where('app_id', '=', source.appId)
    .execute();
  expect(rows).toEqual([{ kind: 'destination_offline' }]);
  await stream.close();
});
