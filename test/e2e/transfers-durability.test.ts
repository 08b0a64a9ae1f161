/**
 * A committed transfer is never lost: every service and the gateway stop
 * (the embedded mesh closes) and start again on the same Postgres schemas,
 * bus streams and data directory (blobs and master key), and the receive
 * flow completes on the restarted platform. An upload interrupted by the
 * restart resumes where the storage says it stood.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  type App,
  call,
  createBody,
  downloadJson,
  getTransfer,
  grantSend,
  type Json,
  newApp,
  newUnit,
  ok,
  Platform,
  pendingDelivery,
  purged,
  receiveJson,
  STORAGE,
  sendJson,
  sha256b64,
  TRANSFER,
  transferReaches,
  uploadJson,
} from './transfers.support.js';

let platform: Platform;

beforeAll(async () => {
  platform = await Platform.start();
});

afterAll(async () => {
  await platform?.close();
});

it('completes, after a restart of the whole platform, what was committed, accepted or half uploaded before it', async () => {
  const source = await newApp(platform, await newUnit(platform, 'Sở gửi'), 'QLVB gửi');
  const destination: App = await newApp(platform, await newUnit(platform, 'Sở nhận'), 'QLVB nhận');
  await grantSend(platform, source, destination.unitCode);

  // Committed, not yet seen by the destination.
  const uploaded = Buffer.from('Báo cáo tổng hợp, bản lưu bền vững. '.repeat(4_000));
  const committed = await sendJson(platform, source, {
    recipients: [destination.unitCode],
    content: uploaded,
    contentType: 'text/plain',
    priority: 'PRIORITY_URGENT',
  });
  expect(committed.state).toBe('TRANSFER_STATE_DELIVERING');

  // Committed inline and accepted: a download space was granted before the restart.
  const small = Buffer.from(JSON.stringify({ giayMoi: 'Họp giao ban tuần' }));
  const accepted = await sendJson(platform, source, {
    recipients: [destination.unitCode],
    content: small,
    inline: true,
  });
  const acceptedDelivery = await pendingDelivery(platform, destination, accepted.id);
  const space = ok(
    await call(platform, TRANSFER, 'AcceptDelivery', { deliveryId: acceptedDelivery.id }, destination.signer),
  ).downloadSpace;

  // Half uploaded when the platform stops.
  const late = Buffer.from('Phần tải lên bị gián đoạn. '.repeat(4_000));
  const requested = ok(
    await call(
      platform,
      TRANSFER,
      'CreateTransfer',
      createBody({ recipients: [destination.unitCode], content: late, contentType: 'text/plain' }),
      source.signer,
    ),
  );
  await uploadJson(platform, source, requested.uploadSpace, late.subarray(0, 40_000));

  const urlBefore = platform.url;
  await platform.restart();
  expect(platform.url).not.toBe(urlBefore);

  // Everything is where it was.
  expect((await getTransfer(platform, source, committed.id)).transfer.state).toBe(
    'TRANSFER_STATE_DELIVERING',
  );
  // Bytes had arrived: UPLOADING, whether the storage's announcement was taken before or after.
  await transferReaches(platform, source, requested.transfer.id, 'TRANSFER_STATE_UPLOADING');
  const pending = ok(
    await call(platform, TRANSFER, 'ListPendingDeliveries', {}, destination.signer),
  ).deliveries;
  expect(pending.map((d: Json) => [d.transferId, d.state])).toEqual([
    [committed.id, expect.stringMatching(/^DELIVERY_STATE_(PENDING|NOTIFIED)$/)],
    [accepted.id, 'DELIVERY_STATE_ACCEPTED'],
  ]);

  // The receive flow completes on the restarted platform.
  const received = await receiveJson(platform, destination, pending[0].id);
  expect(received.content.equals(uploaded)).toBe(true);
  // The space granted before the restart still serves the content.
  const got = await downloadJson(platform, destination, space);
  expect(got.equals(small)).toBe(true);
  ok(
    await call(
      platform,
      TRANSFER,
      'ConfirmDelivery',
      { deliveryId: acceptedDelivery.id, sha256: sha256b64(got), sizeBytes: String(got.length) },
      destination.signer,
    ),
  );
  for (const t of [committed, accepted]) {
    await transferReaches(platform, source, t.id, 'TRANSFER_STATE_DELIVERED');
    await purged(platform, source, t.blobId);
  }

  // The interrupted upload resumes where the storage says it stood, and goes through.
  const status = ok(
    await call(
      platform,
      STORAGE,
      'GetUploadStatus',
      { blobId: requested.uploadSpace.blobId, uploadToken: requested.uploadSpace.uploadToken },
      source.signer,
    ),
  );
  expect(status.receivedBytes).toBe('40000');
  await uploadJson(platform, source, requested.uploadSpace, late, Number(status.receivedBytes));
  ok(await call(platform, TRANSFER, 'CommitTransfer', { transferId: requested.transfer.id }, source.signer));
  const third = await pendingDelivery(platform, destination, requested.transfer.id);
  expect((await receiveJson(platform, destination, third.id)).content.equals(late)).toBe(true);
  await transferReaches(platform, source, requested.transfer.id, 'TRANSFER_STATE_DELIVERED');

  // The history written before the restart is whole, and later changes follow it.
  const { history } = ok(
    await call(platform, TRANSFER, 'GetDeliveryStatus', { transferId: committed.id }, source.signer),
  );
  const steps = history.map((h: Json) => h.deliveryState ?? h.transferState);
  // UPLOADING follows the storage's announcement, so a commit may come first; the offer may
  // have been made before or after the restart, or the accept may have come first.
  const optional = ['TRANSFER_STATE_UPLOADING', 'DELIVERY_STATE_NOTIFIED'];
  expect(steps.filter((s: string) => !optional.includes(s))).toEqual([
    'TRANSFER_STATE_REQUESTED',
    'TRANSFER_STATE_COMMITTED',
    'DELIVERY_STATE_PENDING',
    'DELIVERY_STATE_ACCEPTED',
    'DELIVERY_STATE_DELIVERED',
    'TRANSFER_STATE_DELIVERED',
  ]);
}, 60_000);
