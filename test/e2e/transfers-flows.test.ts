/**
 * The send flow (Art. 8) and the receive flow (Art. 9) end to end, through
 * the gateway, for one recipient and for many (several units, a unit with
 * two receiving apps, an app named directly): over gRPC with grpc-js
 * (streamed and resumed upload and download) and over Connect JSON (pieces).
 * Then who sees what, idempotent retries, the outcomes (refused, cancelled,
 * expired, partially delivered) and the content's lifetime (Art. 5.3).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { edxmlDocument } from '../../services/transfer/test/edxml-fixtures.js';
import type { Signer } from './support.js';
import {
  type App,
  call,
  chunksOf,
  createBody,
  downloadJson,
  downloadStream,
  type GrpcClients,
  getTransfer,
  grantSend,
  grpcCall,
  grpcClients,
  grpcOk,
  grpcRefusal,
  type Json,
  newApp,
  newUnit,
  ok,
  Platform,
  pendingDelivery,
  pendingOf,
  pseudoRandom,
  purged,
  receiveJson,
  refused,
  STORAGE,
  sendJson,
  sha256,
  sha256b64,
  statBlob,
  TRANSFER,
  transferReaches,
  until,
  uploadJson,
  uploadStream,
} from './transfers.support.js';

let platform: Platform;
let grpcs: GrpcClients;

beforeAll(async () => {
  platform = await Platform.start();
  grpcs = grpcClients(platform);
});

afterAll(async () => {
  grpcs?.close();
  await platform?.close();
});

const pdf = (size: number, seed = 1) => Buffer.concat([Buffer.from('%PDF-1.7\n'), pseudoRandom(size, seed)]);
const json = (value: unknown) => Buffer.from(JSON.stringify(value));

/** A source app in a unit of its own, and a helper to make destination apps it may send to. */
async function sourceApp(name = 'QLVB nguồn'): Promise<App> {
  return newApp(platform, await newUnit(platform, 'Đơn vị nguồn'), name);
}

/** A destination unit with `apps` receiving apps, granted to `source`. */
async function destinationUnit(source: App, apps = 1): Promise<{ code: string; apps: App[] }> {
  const code = await newUnit(platform, 'Đơn vị nhận');
  const made: App[] = [];
  for (let i = 0; i < apps; i++) made.push(await newApp(platform, code, `QLVB nhận ${i + 1}`));
  await grantSend(platform, source, code);
  return { code, apps: made };
}

const jsonCall = (service: string, method: string, body: unknown, signer: Signer) =>
  call(platform, service, method, body, signer);

// ---------------------------------------------------------------------------

describe('over gRPC (grpc-js through the gateway)', () => {
  /** CreateTransfer, then Upload in two streams (the second resumes where GetUploadStatus says), then CommitTransfer. */
  async function sendOverGrpc(source: App, recipients: Json[], content: Buffer, subject: string) {
    const request = {
      recipients,
      subject,
      priority: 'PRIORITY_URGENT',
      contentType: 'application/pdf',
      protocol: 'TRANSFER_PROTOCOL_PLAIN_DATA',
      sizeBytes: String(content.length),
      sha256: sha256(content),
    };
    const created = grpcOk(await grpcCall(grpcs, 'CreateTransfer', request, source.signer), 'CreateTransfer');
    expect(created.transfer).toMatchObject({
      state: 'TRANSFER_STATE_REQUESTED',
      sourceAppId: source.id,
      sourceUnitCode: source.unitCode,
      priority: 'PRIORITY_URGENT',
      sizeBytes: String(content.length),
      inline: false,
    });
    const space = created.uploadSpace;
    expect(space).toMatchObject({ blobId: created.transfer.blobId, maxSizeBytes: String(content.length) });
    expect(space.id).toMatch(/^ups_/);
    expect(Number(space.expireTime.seconds) * 1000).toBeGreaterThan(Date.now());

    // The first stream carries part of the content and ends: the blob stays STAGING.
    const half = 3 * 32 * 1024;
    const first = grpcOk(
      await uploadStream(
        grpcs,
        source.signer,
        { blobId: space.blobId, uploadToken: space.uploadToken, offset: 0 },
        chunksOf(content.subarray(0, half), 32 * 1024),
      ),
      'Upload (first stream)',
    );
    expect(first).toMatchObject({ receivedBytes: String(half), blob: { state: 'BLOB_STATE_STAGING' } });
    const status = grpcOk(
      await grpcCall(
        grpcs,
        'GetUploadStatus',
        { blobId: space.blobId, uploadToken: space.uploadToken },
        source.signer,
      ),
      'GetUploadStatus',
    );
    expect(status).toMatchObject({
      receivedBytes: String(half),
      sizeBytes: String(content.length),
      state: 'BLOB_STATE_STAGING',
    });
    // Resumed from there: the last byte seals the blob once its digest matches.
    const second = grpcOk(
      await uploadStream(
        grpcs,
        source.signer,
        { blobId: space.blobId, uploadToken: space.uploadToken, offset: Number(status.receivedBytes) },
        chunksOf(content.subarray(half), 32 * 1024),
      ),
      'Upload (second stream)',
    );
    expect(second).toMatchObject({
      receivedBytes: String(content.length),
      blob: { state: 'BLOB_STATE_SEALED' },
    });

    const committed = grpcOk(
      await grpcCall(grpcs, 'CommitTransfer', { transferId: created.transfer.id }, source.signer),
      'CommitTransfer',
    );
    expect(committed.transfer.state).toBe('TRANSFER_STATE_DELIVERING');
    expect(Number(committed.transfer.commitTime.seconds)).toBeGreaterThan(0);
    return committed.transfer;
  }

  /** ListPendingDeliveries, AcceptDelivery, Download in two streams (the second resumes at an offset), ConfirmDelivery. */
  async function receiveOverGrpc(destination: App, transferId: string, content: Buffer) {
    const pending = grpcOk(
      await grpcCall(grpcs, 'ListPendingDeliveries', { pageSize: 50 }, destination.signer),
      'ListPendingDeliveries',
    );
    const delivery = pending.deliveries.find((d: Json) => d.transferId === transferId);
    expect(delivery, `a delivery waits for ${destination.id}`).toBeDefined();
    expect(delivery).toMatchObject({ destinationAppId: destination.id, sizeBytes: String(content.length) });

    const accepted = grpcOk(
      await grpcCall(grpcs, 'AcceptDelivery', { deliveryId: delivery.id }, destination.signer),
      'AcceptDelivery',
    );
    expect(accepted.content).toBe('downloadSpace');
    expect(accepted.delivery.state).toBe('DELIVERY_STATE_ACCEPTED');
    const space = accepted.downloadSpace;
    expect(Buffer.from(space.sha256).equals(sha256(content))).toBe(true);
    expect(space.sizeBytes).toBe(String(content.length));

    const cut = 70_001;
    const head = await downloadStream(grpcs, destination.signer, {
      blobId: space.blobId,
      downloadToken: space.downloadToken,
      offset: 0,
      limit: cut,
    });
    expect(head.error).toBeUndefined();
    expect(head.header).toMatchObject({ sizeBytes: String(content.length), offset: '0' });
    expect(head.bytes.length).toBe(cut);
    const rest = await downloadStream(grpcs, destination.signer, {
      blobId: space.blobId,
      downloadToken: space.downloadToken,
      offset: cut,
    });
    expect(rest.error).toBeUndefined();
    expect(rest.header).toMatchObject({ offset: String(cut), contentType: 'application/pdf' });
    const received = Buffer.concat([head.bytes, rest.bytes]);
    expect(received.equals(content)).toBe(true);

    const confirmed = grpcOk(
      await grpcCall(
        grpcs,
        'ConfirmDelivery',
        {
          deliveryId: delivery.id,
          sha256: sha256(received),
          sizeBytes: String(received.length),
          receiptRef: 'Sổ đến 42',
        },
        destination.signer,
      ),
      'ConfirmDelivery',
    );
    expect(confirmed.delivery).toMatchObject({
      state: 'DELIVERY_STATE_DELIVERED',
      edxmlStatus: 'EDXML_STATUS_CODE_ARRIVED',
    });
    return { delivery: confirmed.delivery, space };
  }

  it('carries a document to one recipient: upload and download streamed and resumed', async () => {
    const source = await sourceApp();
    const { apps } = await destinationUnit(source);
    const destination = apps[0]!;
    const content = pdf(200_000);
    const transfer = await sendOverGrpc(source, [{ appId: destination.id }], content, 'Báo cáo quý I');
    expect(transfer.deliveryCount).toBe(1);

    const { space } = await receiveOverGrpc(destination, transfer.id, content);

    const done = grpcOk(await grpcCall(grpcs, 'GetTransfer', { transferId: transfer.id }, source.signer));
    expect(done.transfer).toMatchObject({ state: 'TRANSFER_STATE_DELIVERED', deliveredCount: 1 });
    expect(Number(done.transfer.finishTime.seconds)).toBeGreaterThan(0);

    // Delivered: the content goes, the token with it.
    await purged(platform, source, transfer.blobId);
    const again = await downloadStream(grpcs, destination.signer, {
      blobId: space.blobId,
      downloadToken: space.downloadToken,
    });
    expect(grpcRefusal(again.error)).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'BLOB_PURGED' });
    expect(again.bytes.length).toBe(0);
  });

  it('carries a document to several units, a unit with two receiving apps, and an app named directly', async () => {
    const source = await sourceApp();
    const one = await destinationUnit(source, 1);
    const two = await destinationUnit(source, 2);
    // A unit with two apps, of which only the one named receives.
    const third = await destinationUnit(source, 2);
    const named = third.apps[0]!;
    const content = pdf(150_000, 7);
    const transfer = await sendOverGrpc(
      source,
      [{ unitCode: one.code }, { unitCode: two.code }, { appId: named.id }],
      content,
      'Quyết định phân bổ ngân sách',
    );
    expect(transfer.deliveryCount).toBe(4);
    expect(transfer.recipients).toEqual([
      { unitCode: one.code, party: 'unitCode' },
      { unitCode: two.code, party: 'unitCode' },
      { appId: named.id, party: 'appId' },
    ]);

    const status = grpcOk(
      await grpcCall(grpcs, 'GetDeliveryStatus', { transferId: transfer.id }, source.signer),
    );
    expect(status.deliveries.map((d: Json) => [d.destinationAppId, d.recipient])).toEqual(
      expect.arrayContaining([
        [one.apps[0]!.id, { unitCode: one.code, party: 'unitCode' }],
        [two.apps[0]!.id, { unitCode: two.code, party: 'unitCode' }],
        [two.apps[1]!.id, { unitCode: two.code, party: 'unitCode' }],
        [named.id, { appId: named.id, party: 'appId' }],
      ]),
    );
    expect(status.deliveries).toHaveLength(4);
    // The other app of the third unit was not named: nothing waits for it.
    expect(
      grpcOk(await grpcCall(grpcs, 'ListPendingDeliveries', {}, third.apps[1]!.signer)).deliveries,
    ).toEqual([]);

    const destinations = [one.apps[0]!, ...two.apps, named];
    for (const [i, destination] of destinations.entries()) {
      await receiveOverGrpc(destination, transfer.id, content);
      const { transfer: now } = grpcOk(
        await grpcCall(grpcs, 'GetTransfer', { transferId: transfer.id }, source.signer),
      );
      expect(now.deliveredCount).toBe(i + 1);
      expect(now.state).toBe(i < 3 ? 'TRANSFER_STATE_DELIVERING' : 'TRANSFER_STATE_DELIVERED');
    }
    await purged(platform, source, transfer.blobId);
  });
});

// ---------------------------------------------------------------------------

describe('over Connect JSON', () => {
  it('carries small content inline both ways: in the request, and in the accept answer', async () => {
    const source = await sourceApp();
    const { apps } = await destinationUnit(source);
    const destination = apps[0]!;
    const content = json({ soKyHieu: '125/QĐ-UBND', noiDung: 'Giấy mời họp' });
    const transfer = await sendJson(platform, source, {
      recipients: [destination.unitCode],
      content,
      inline: true,
      priority: 'PRIORITY_FLASH',
    });
    // Committed in the same call; no upload space.
    expect(transfer).toMatchObject({ state: 'TRANSFER_STATE_DELIVERING', inline: true, deliveryCount: 1 });

    const delivery = await pendingDelivery(platform, destination, transfer.id);
    expect(delivery).toMatchObject({ priority: 'PRIORITY_FLASH', subject: 'Công văn thử nghiệm' });
    const accepted = ok(
      await jsonCall(
        TRANSFER,
        'AcceptDelivery',
        { deliveryId: delivery.id, preferInline: true },
        destination.signer,
      ),
    );
    expect(accepted.downloadSpace).toBeUndefined();
    const got = Buffer.from(accepted.inlineContent, 'base64');
    expect(got.equals(content)).toBe(true);
    const confirmed = ok(
      await jsonCall(
        TRANSFER,
        'ConfirmDelivery',
        { deliveryId: delivery.id, sha256: sha256b64(got), sizeBytes: String(got.length) },
        destination.signer,
      ),
    );
    expect(confirmed.delivery.state).toBe('DELIVERY_STATE_DELIVERED');
    await transferReaches(platform, source, transfer.id, 'TRANSFER_STATE_DELIVERED');
    await purged(platform, source, transfer.blobId);
  });

  it('carries uploaded content to several units and a unit with two apps, piece by piece', async () => {
    const source = await sourceApp();
    const one = await destinationUnit(source, 1);
    const two = await destinationUnit(source, 2);
    const content = Buffer.from('Dòng dữ liệu thử nghiệm;'.repeat(6_000));
    const transfer = await sendJson(platform, source, {
      recipients: [one.code, two.code],
      content,
      contentType: 'text/plain; charset=utf-8',
    });
    // Proto3 JSON leaves out fields at their default: `inline` is false.
    expect(transfer).toMatchObject({ state: 'TRANSFER_STATE_DELIVERING', deliveryCount: 3 });
    expect(transfer.inline).toBeUndefined();

    for (const destination of [...one.apps, ...two.apps]) {
      const delivery = await pendingDelivery(platform, destination, transfer.id);
      const { content: got, delivery: confirmed } = await receiveJson(platform, destination, delivery.id);
      expect(got.equals(content)).toBe(true);
      expect(confirmed.state).toBe('DELIVERY_STATE_DELIVERED');
    }
    const done = await transferReaches(platform, source, transfer.id, 'TRANSFER_STATE_DELIVERED');
    expect(done.deliveredCount).toBe(3);
  });

  it('shows a transfer UPLOADING once bytes of it arrived, and REQUESTED only before', async () => {
    const source = await sourceApp();
    const { code } = await destinationUnit(source);
    const content = Buffer.from('x'.repeat(90_000));
    const created = ok(
      await jsonCall(
        TRANSFER,
        'CreateTransfer',
        createBody({ recipients: [code], content, contentType: 'text/plain' }),
        source.signer,
      ),
    );
    expect(created.transfer.state).toBe('TRANSFER_STATE_REQUESTED');
    await uploadJson(platform, source, created.uploadSpace, content.subarray(0, 40_000));
    // resources.proto: REQUESTED is "no byte received yet", UPLOADING "content is being uploaded".
    // The storage announces the first bytes on the bus, so the change follows shortly after.
    await transferReaches(platform, source, created.transfer.id, 'TRANSFER_STATE_UPLOADING');
    const { history } = ok(
      await jsonCall(TRANSFER, 'GetDeliveryStatus', { transferId: created.transfer.id }, source.signer),
    );
    expect(history.map((h: Json) => [h.transferState, h.actor])).toEqual([
      ['TRANSFER_STATE_REQUESTED', source.id],
      ['TRANSFER_STATE_UPLOADING', 'platform'],
    ]);
    // The rest of the content, then the commit, as usual.
    await uploadJson(platform, source, created.uploadSpace, content, 40_000);
    const committed = ok(
      await jsonCall(TRANSFER, 'CommitTransfer', { transferId: created.transfer.id }, source.signer),
    );
    expect(committed.transfer.state).toBe('TRANSFER_STATE_DELIVERING');
  });
});

// ---------------------------------------------------------------------------

describe('who sees what', () => {
  let source: App;
  let first: App;
  let second: App;
  let stranger: App;
  let transfer: Json;
  let firstDelivery: Json;
  let firstSpace: Json;

  beforeAll(async () => {
    source = await sourceApp();
    const unit = await destinationUnit(source, 1);
    first = unit.apps[0]!;
    second = await newApp(platform, await newUnit(platform), 'QLVB được gửi trực tiếp');
    await grantSend(platform, source, second.id);
    stranger = await newApp(platform, await newUnit(platform), 'Hệ thống khác');
    transfer = await sendJson(platform, source, {
      recipients: [unit.code, second.id],
      content: Buffer.from('{"vanBan":"Thông báo kết luận"}'),
      inline: true,
    });
    firstDelivery = await pendingDelivery(platform, first, transfer.id);
    firstSpace = ok(
      await jsonCall(TRANSFER, 'AcceptDelivery', { deliveryId: firstDelivery.id }, first.signer),
    ).downloadSpace;
    await receiveJson(platform, second, (await pendingDelivery(platform, second, transfer.id)).id);
  });

  it("shows the source every recipient's status and the whole history, with times", async () => {
    const status = ok(
      await jsonCall(TRANSFER, 'GetDeliveryStatus', { transferId: transfer.id }, source.signer),
    );
    expect(status.transferState).toBe('TRANSFER_STATE_DELIVERING');
    expect(Object.fromEntries(status.deliveries.map((d: Json) => [d.destinationAppId, d.state]))).toEqual({
      [first.id]: 'DELIVERY_STATE_ACCEPTED',
      [second.id]: 'DELIVERY_STATE_DELIVERED',
    });
    const firstSeen = status.deliveries.find((d: Json) => d.destinationAppId === first.id);
    for (const field of ['createTime', 'notifyTime', 'acceptTime', 'updateTime', 'deadline'])
      expect(Date.parse(firstSeen[field]), field).toBeGreaterThan(0);

    const history: Json[] = status.history;
    const times = history.map((h) => Date.parse(h.occurTime));
    expect(times.every((t) => t > 0)).toBe(true);
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(history.map((h) => BigInt(h.cursor))).toEqual(
      [...history.map((h) => BigInt(h.cursor))].sort((a, b) => (a < b ? -1 : 1)),
    );
    const of = (appId: string) =>
      history.filter((h) => h.destinationAppId === appId).map((h) => h.deliveryState);
    expect(of(first.id)).toEqual(
      expect.arrayContaining(['DELIVERY_STATE_PENDING', 'DELIVERY_STATE_ACCEPTED']),
    );
    expect(of(second.id)).toEqual(
      expect.arrayContaining([
        'DELIVERY_STATE_PENDING',
        'DELIVERY_STATE_ACCEPTED',
        'DELIVERY_STATE_DELIVERED',
      ]),
    );
    expect(of(second.id).at(-1)).toBe('DELIVERY_STATE_DELIVERED');
    const confirmedBy = history.find((h) => h.deliveryState === 'DELIVERY_STATE_DELIVERED');
    expect(confirmedBy).toMatchObject({ actor: second.id, edxmlStatus: 'EDXML_STATUS_CODE_ARRIVED' });

    const { transfer: seen, deliveries } = await getTransfer(platform, source, transfer.id);
    expect(seen).toMatchObject({ id: transfer.id, deliveryCount: 2, deliveredCount: 1 });
    expect(deliveries).toHaveLength(2);
  });

  it('shows a recipient its own delivery only', async () => {
    for (const [me, other] of [
      [first, second],
      [second, first],
    ] as const) {
      const { deliveries } = await getTransfer(platform, me, transfer.id);
      expect(deliveries.map((d: Json) => d.destinationAppId)).toEqual([me.id]);
      const status = ok(
        await jsonCall(TRANSFER, 'GetDeliveryStatus', { transferId: transfer.id }, me.signer),
      );
      expect(status.deliveries.map((d: Json) => d.destinationAppId)).toEqual([me.id]);
      const foreign = status.history.filter((h: Json) => h.destinationAppId === other.id);
      expect(foreign).toEqual([]);
      expect(status.history.some((h: Json) => h.destinationAppId === me.id)).toBe(true);
      // Its own delivery by id, and not the other's.
      const mine = deliveries[0].id;
      ok(await jsonCall(TRANSFER, 'GetDeliveryStatus', { deliveryId: mine }, me.signer));
      const theirs = (await getTransfer(platform, source, transfer.id)).deliveries.find(
        (d: Json) => d.destinationAppId === other.id,
      );
      refused(
        await jsonCall(TRANSFER, 'GetDeliveryStatus', { deliveryId: theirs.id }, me.signer),
        'not_found',
        'DELIVERY_NOT_FOUND',
      );
    }
    // A recipient does not act as the source.
    refused(
      await jsonCall(TRANSFER, 'CancelTransfer', { transferId: transfer.id }, first.signer),
      'not_found',
      'TRANSFER_NOT_FOUND',
    );
  });

  it('shows a third app nothing: every call answers NOT_FOUND', async () => {
    const s = stranger.signer;
    const id = transfer.id;
    const deliveryId = firstDelivery.id;
    const digest = sha256b64(Buffer.from('x'));
    const cases: Array<[string, string, Json, string]> = [
      [TRANSFER, 'GetTransfer', { transferId: id }, 'TRANSFER_NOT_FOUND'],
      [TRANSFER, 'GetDeliveryStatus', { transferId: id }, 'TRANSFER_NOT_FOUND'],
      [TRANSFER, 'GetDeliveryStatus', { deliveryId }, 'DELIVERY_NOT_FOUND'],
      [TRANSFER, 'AcceptDelivery', { deliveryId }, 'DELIVERY_NOT_FOUND'],
      [TRANSFER, 'ConfirmDelivery', { deliveryId, sha256: digest, sizeBytes: '1' }, 'DELIVERY_NOT_FOUND'],
      [TRANSFER, 'RefuseDelivery', { deliveryId, reason: 'REFUSAL_REASON_DUPLICATE' }, 'DELIVERY_NOT_FOUND'],
      [TRANSFER, 'CommitTransfer', { transferId: id }, 'TRANSFER_NOT_FOUND'],
      [TRANSFER, 'CancelTransfer', { transferId: id }, 'TRANSFER_NOT_FOUND'],
    ];
    for (const [service, method, body, reason] of cases) {
      refused(await jsonCall(service, method, body, s), 'not_found', reason);
    }
    expect((await getTransfer(platform, source, id)).transfer.state).toBe('TRANSFER_STATE_DELIVERING');
    expect(await pendingOf(platform, stranger)).toEqual([]);
    expect(ok(await jsonCall(TRANSFER, 'ListTransfers', {}, s)).transfers ?? []).toEqual([]);
  });

  it("gives a third app holding another app's download token no content, and tells it nothing exists", async () => {
    const token = { blobId: firstSpace.blobId, downloadToken: firstSpace.downloadToken };
    const overJson = await jsonCall(STORAGE, 'DownloadChunk', { ...token, offset: '0' }, stranger.signer);
    expect(overJson.body.chunk).toBeUndefined();
    const overGrpc = await downloadStream(grpcs, stranger.signer, token);
    expect(overGrpc.bytes.length).toBe(0);
    // The issue asks for NOT_FOUND, as for every other call of a third app.
    refused(overJson, 'not_found');
    expect(grpcRefusal(overGrpc.error).code).toBe('NOT_FOUND');
  });
});

// ---------------------------------------------------------------------------

describe('the actor of each change', () => {
  it('names the app that caused a change by its app id (StatusChange.actor), whatever it did', async () => {
    const source = await sourceApp();
    const { apps } = await destinationUnit(source);
    const content = json({ a: 'actor' });
    const created = ok(
      await jsonCall(
        TRANSFER,
        'CreateTransfer',
        createBody({ recipients: [apps[0]!.id], content }),
        source.signer,
      ),
    );
    await uploadJson(platform, source, created.uploadSpace, content);
    ok(await jsonCall(TRANSFER, 'CommitTransfer', { transferId: created.transfer.id }, source.signer));
    ok(await jsonCall(TRANSFER, 'CancelTransfer', { transferId: created.transfer.id }, source.signer));
    const { history } = ok(
      await jsonCall(TRANSFER, 'GetDeliveryStatus', { transferId: created.transfer.id }, source.signer),
    );
    const bySource = history.filter((h: Json) => h.actor !== 'platform');
    expect(bySource.map((h: Json) => [h.deliveryState ?? h.transferState, h.actor])).toEqual([
      ['TRANSFER_STATE_REQUESTED', source.id],
      ['TRANSFER_STATE_COMMITTED', source.id],
      ['DELIVERY_STATE_CANCELLED', source.id],
    ]);
  });
});

describe('OpenSession: what changed since the last look', () => {
  it('pages through the changes of the source with a cursor, then tells only what is new', async () => {
    const source = await sourceApp('QLVB phiên');
    const { apps } = await destinationUnit(source, 1);
    const destination = apps[0]!;
    const empty = ok(await jsonCall(TRANSFER, 'OpenSession', {}, source.signer));
    expect(empty.hasMore ?? false).toBe(false);
    expect(empty.changes ?? []).toEqual([]);
    expect(Math.abs(Date.parse(empty.serverTime) - Date.now())).toBeLessThan(5_000);

    const sent: Json[] = [];
    for (const n of [1, 2]) {
      sent.push(
        await sendJson(platform, source, {
          recipients: [destination.id],
          content: json({ n }),
          inline: true,
        }),
      );
    }
    // Wait for the offers, so that the history stands still while it is paged.
    await until(
      async () => {
        const pending = await pendingOf(platform, destination);
        return pending.length === 2 && pending.every((d) => d.state === 'DELIVERY_STATE_NOTIFIED');
      },
      10_000,
      'both deliveries to be offered',
    );
    const histories = await Promise.all(
      sent.map(
        async (t) =>
          ok(await jsonCall(TRANSFER, 'GetDeliveryStatus', { transferId: t.id }, source.signer)).history,
      ),
    );
    const all = histories.flat().sort((a: Json, b: Json) => Number(BigInt(a.cursor) - BigInt(b.cursor)));

    const seen: Json[] = [];
    let cursor = '';
    for (let pages = 0; ; pages++) {
      expect(pages).toBeLessThan(20);
      const session = ok(await jsonCall(TRANSFER, 'OpenSession', { cursor, pageSize: 3 }, source.signer));
      expect((session.changes ?? []).length).toBeLessThanOrEqual(3);
      seen.push(...(session.changes ?? []));
      cursor = session.nextCursor;
      if (session.hasMore !== true) {
        expect(session.openTransferCount).toBe(2);
        break;
      }
    }
    expect(seen.map((c) => c.cursor)).toEqual(all.map((c: Json) => c.cursor));
    expect(seen.map((c) => c.transferId)).toEqual(all.map((c: Json) => c.transferId));

    // Nothing new: the same cursor comes back with no change.
    const idle = ok(await jsonCall(TRANSFER, 'OpenSession', { cursor }, source.signer));
    expect(idle.changes ?? []).toEqual([]);
    expect(idle.nextCursor).toBe(cursor);

    // The destination confirms one: the next look tells exactly that.
    const destinationSession = ok(await jsonCall(TRANSFER, 'OpenSession', {}, destination.signer));
    expect(destinationSession.pendingDeliveryCount).toBe(2);
    const delivery = await pendingDelivery(platform, destination, sent[0].id);
    await receiveJson(platform, destination, delivery.id);
    const news = ok(await jsonCall(TRANSFER, 'OpenSession', { cursor }, source.signer));
    expect(news.changes.map((c: Json) => [c.transferId, c.deliveryState ?? null, c.transferState])).toEqual([
      [sent[0].id, 'DELIVERY_STATE_ACCEPTED', 'TRANSFER_STATE_DELIVERING'],
      [sent[0].id, 'DELIVERY_STATE_DELIVERED', 'TRANSFER_STATE_DELIVERING'],
      [sent[0].id, null, 'TRANSFER_STATE_DELIVERED'],
    ]);
    expect(news.openTransferCount).toBe(1);
    expect(ok(await jsonCall(TRANSFER, 'OpenSession', {}, destination.signer)).pendingDeliveryCount).toBe(1);
  });

  it('refuses a cursor it did not give and a page size out of range', async () => {
    const source = await sourceApp();
    const answer = await jsonCall(TRANSFER, 'OpenSession', { cursor: 'abc', pageSize: 5000 }, source.signer);
    expect(refused(answer, 'invalid_argument', 'INVALID_ARGUMENT').violations).toEqual({
      cursor: 'CURSOR_FORMAT',
      page_size: 'OUT_OF_RANGE',
    });
  });
});

// ---------------------------------------------------------------------------

describe('idempotency', () => {
  it('takes a key used more than 24 hours ago as a new request', async () => {
    const source = await sourceApp();
    const { apps } = await destinationUnit(source);
    const body = createBody({
      recipients: [apps[0]!.id],
      content: Buffer.from('{"so": 1}'),
      contentType: 'application/json',
      idempotencyKey: 'qlvb-2024-000126',
    });
    const first = ok(await jsonCall(TRANSFER, 'CreateTransfer', body, source.signer));
    const transferDb = platform.mesh.database.forSchema<{ transfers: { id: string; created_at: Date } }>(
      `${platform.schemaPrefix}transfer`,
    );
    const dayAndHourAgo = new Date(Date.now() - 25 * 3600_000);
    await transferDb
      .updateTable('transfers')
      .set({ created_at: dayAndHourAgo })
      .where('id', '=', first.transfer.id)
      .execute();
    const second = ok(await jsonCall(TRANSFER, 'CreateTransfer', body, source.signer));
    expect(second.transfer.id).not.toBe(first.transfer.id);
    expect(second.transfer.idempotencyKey).toBe('qlvb-2024-000126');
    // Within the window again: the new transfer is the one the key names.
    const third = ok(await jsonCall(TRANSFER, 'CreateTransfer', body, source.signer));
    expect(third.transfer.id).toBe(second.transfer.id);
  });

  it('answers a repeated request with the same transfer and a fresh upload space while uploading', async () => {
    const source = await sourceApp();
    const { apps } = await destinationUnit(source);
    const destination = apps[0]!;
    const content = Buffer.from('Nội dung tải lên;'.repeat(6_000));
    const body = createBody({
      recipients: [destination.id],
      content,
      contentType: 'text/plain',
      idempotencyKey: 'qlvb-2024-000125',
    });
    const first = ok(await jsonCall(TRANSFER, 'CreateTransfer', body, source.signer));
    await uploadJson(platform, source, first.uploadSpace, content.subarray(0, 40_000));

    const again = ok(await jsonCall(TRANSFER, 'CreateTransfer', body, source.signer));
    expect(again.transfer.id).toBe(first.transfer.id);
    expect(again.transfer.idempotencyKey).toBe('qlvb-2024-000125');
    expect(again.uploadSpace.blobId).toBe(first.uploadSpace.blobId);
    expect(again.uploadSpace.uploadToken).not.toBe(first.uploadSpace.uploadToken);
    // The earlier token stopped working; the fresh one resumes where the upload stood.
    refused(
      await jsonCall(
        STORAGE,
        'UploadChunk',
        {
          blobId: first.uploadSpace.blobId,
          uploadToken: first.uploadSpace.uploadToken,
          offset: '40000',
          chunk: content.subarray(40_000, 40_010).toString('base64'),
        },
        source.signer,
      ),
      'not_found',
      'BLOB_NOT_FOUND',
    );
    const status = ok(
      await jsonCall(
        STORAGE,
        'GetUploadStatus',
        { blobId: again.uploadSpace.blobId, uploadToken: again.uploadSpace.uploadToken },
        source.signer,
      ),
    );
    expect(status.receivedBytes).toBe('40000');
    await uploadJson(platform, source, again.uploadSpace, content, 40_000);

    const committed = ok(
      await jsonCall(TRANSFER, 'CommitTransfer', { transferId: first.transfer.id }, source.signer),
    );
    const recommitted = ok(
      await jsonCall(TRANSFER, 'CommitTransfer', { transferId: first.transfer.id }, source.signer),
    );
    expect(recommitted.transfer.state).toBe(committed.transfer.state);
    expect(recommitted.transfer.deliveryCount).toBe(1);
    // After commit a repeat returns the transfer and no space.
    const late = ok(await jsonCall(TRANSFER, 'CreateTransfer', body, source.signer));
    expect(late.transfer.id).toBe(first.transfer.id);
    expect(late.uploadSpace).toBeUndefined();
    const listed = ok(await jsonCall(TRANSFER, 'ListTransfers', {}, source.signer)).transfers;
    expect(listed.map((t: Json) => t.id)).toEqual([first.transfer.id]);

    // The same key with other fields is refused, naming the transfer it belongs to.
    const other = await jsonCall(TRANSFER, 'CreateTransfer', { ...body, subject: 'Khác' }, source.signer);
    const refusal = refused(other, 'already_exists', 'IDEMPOTENCY_KEY_REUSED');
    expect(refusal.metadata['transfer_id']).toBe(first.transfer.id);
    expect(ok(await jsonCall(TRANSFER, 'ListTransfers', {}, source.signer)).transfers).toHaveLength(1);
  });

  it('answers identical inline requests sent at once with one transfer', async () => {
    const source = await sourceApp();
    const { apps } = await destinationUnit(source);
    const body = createBody({
      recipients: [apps[0]!.id],
      content: json({ once: true }),
      inline: true,
      idempotencyKey: 'inline-once',
    });
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => jsonCall(TRANSFER, 'CreateTransfer', body, source.signer)),
    );
    const ids = new Set(answers.map((a) => ok(a).transfer.id));
    expect(ids.size).toBe(1);
    for (const a of answers) expect(a.body.uploadSpace).toBeUndefined();
    expect(ok(await jsonCall(TRANSFER, 'ListTransfers', {}, source.signer)).transfers).toHaveLength(1);
    expect(await pendingOf(platform, apps[0]!)).toHaveLength(1);
  });

  it('takes a repeated confirmation, refusal or cancellation as the first one', async () => {
    const source = await sourceApp();
    const a = await destinationUnit(source);
    const b = await destinationUnit(source);
    const transfer = await sendJson(platform, source, {
      recipients: [a.code, b.code],
      content: json({ lan: 1 }),
      inline: true,
    });
    const confirmer = a.apps[0]!;
    const refuser = b.apps[0]!;
    const toConfirm = await pendingDelivery(platform, confirmer, transfer.id);
    const { content } = await receiveJson(platform, confirmer, toConfirm.id);
    const confirm = {
      deliveryId: toConfirm.id,
      sha256: sha256b64(content),
      sizeBytes: String(content.length),
    };
    const confirmedAgain = ok(await jsonCall(TRANSFER, 'ConfirmDelivery', confirm, confirmer.signer));
    expect(confirmedAgain.delivery.state).toBe('DELIVERY_STATE_DELIVERED');

    const toRefuse = await pendingDelivery(platform, refuser, transfer.id);
    const refusal = {
      deliveryId: toRefuse.id,
      reason: 'REFUSAL_REASON_DUPLICATE',
      message: 'Đã nhận qua đường khác',
    };
    const once = ok(await jsonCall(TRANSFER, 'RefuseDelivery', refusal, refuser.signer));
    const twice = ok(await jsonCall(TRANSFER, 'RefuseDelivery', refusal, refuser.signer));
    expect(twice.delivery).toEqual(once.delivery);

    const cancelled = ok(
      await jsonCall(TRANSFER, 'CancelTransfer', { transferId: transfer.id }, source.signer),
    );
    const cancelledAgain = ok(
      await jsonCall(TRANSFER, 'CancelTransfer', { transferId: transfer.id }, source.signer),
    );
    expect(cancelled.transfer.state).toBe('TRANSFER_STATE_PARTIALLY_DELIVERED');
    expect(cancelledAgain.transfer).toEqual(cancelled.transfer);

    const { history } = ok(
      await jsonCall(TRANSFER, 'GetDeliveryStatus', { transferId: transfer.id }, source.signer),
    );
    const count = (state: string) => history.filter((h: Json) => h.deliveryState === state).length;
    expect(count('DELIVERY_STATE_DELIVERED')).toBe(1);
    expect(count('DELIVERY_STATE_REFUSED')).toBe(1);
  });
});

// ---------------------------------------------------------------------------

describe('outcomes', () => {
  it('records a refusal with its reason: REFUSED, edXML status 02, content purged', async () => {
    const source = await sourceApp();
    const { apps } = await destinationUnit(source);
    const destination = apps[0]!;
    const transfer = await sendJson(platform, source, {
      recipients: [destination.unitCode],
      content: json({ vanBan: 'Gửi nhầm' }),
      inline: true,
    });
    const delivery = await pendingDelivery(platform, destination, transfer.id);
    refused(
      await jsonCall(TRANSFER, 'RefuseDelivery', { deliveryId: delivery.id }, destination.signer),
      'invalid_argument',
    );
    const answer = ok(
      await jsonCall(
        TRANSFER,
        'RefuseDelivery',
        {
          deliveryId: delivery.id,
          reason: 'REFUSAL_REASON_WRONG_RECIPIENT',
          message: 'Văn bản không thuộc thẩm quyền của Sở',
        },
        destination.signer,
      ),
    );
    expect(answer.delivery).toMatchObject({
      state: 'DELIVERY_STATE_REFUSED',
      edxmlStatus: 'EDXML_STATUS_CODE_REFUSED',
      refusalReason: 'REFUSAL_REASON_WRONG_RECIPIENT',
      stateReason: 'Văn bản không thuộc thẩm quyền của Sở',
    });
    const done = await transferReaches(platform, source, transfer.id, 'TRANSFER_STATE_REFUSED');
    expect(done.deliveredCount ?? 0).toBe(0);
    const { history } = ok(
      await jsonCall(TRANSFER, 'GetDeliveryStatus', { deliveryId: delivery.id }, source.signer),
    );
    expect(history.find((h: Json) => h.deliveryState === 'DELIVERY_STATE_REFUSED')).toMatchObject({
      actor: destination.id,
      reason: 'Văn bản không thuộc thẩm quyền của Sở',
      edxmlStatus: 'EDXML_STATUS_CODE_REFUSED',
    });
    // Final: neither confirmed nor accepted any more.
    refused(
      await jsonCall(
        TRANSFER,
        'ConfirmDelivery',
        { deliveryId: delivery.id, sha256: transfer.sha256, sizeBytes: transfer.sizeBytes },
        destination.signer,
      ),
      'failed_precondition',
      'DELIVERY_FINAL',
    );
    refused(
      await jsonCall(TRANSFER, 'AcceptDelivery', { deliveryId: delivery.id }, destination.signer),
      'failed_precondition',
      'DELIVERY_FINAL',
    );
    expect((await purged(platform, source, transfer.blobId)).purgeReason).toBe('PURGE_REASON_FAILED');
  });

  it('cancels a transfer before delivery: CANCELLED everywhere, the download token stops working', async () => {
    const source = await sourceApp();
    const a = await destinationUnit(source);
    const b = await destinationUnit(source);
    const content = Buffer.from('Nội dung sẽ bị hủy;'.repeat(5_000));
    const transfer = await sendJson(platform, source, {
      recipients: [a.code, b.code],
      content,
      contentType: 'text/plain',
    });
    const delivery = await pendingDelivery(platform, a.apps[0]!, transfer.id);
    const { downloadSpace } = ok(
      await jsonCall(TRANSFER, 'AcceptDelivery', { deliveryId: delivery.id }, a.apps[0]!.signer),
    );
    expect((await downloadJson(platform, a.apps[0]!, downloadSpace)).equals(content)).toBe(true);

    const cancelled = ok(
      await jsonCall(
        TRANSFER,
        'CancelTransfer',
        { transferId: transfer.id, reason: 'Văn bản ban hành nhầm' },
        source.signer,
      ),
    );
    expect(cancelled.transfer.state).toBe('TRANSFER_STATE_CANCELLED');
    expect(cancelled.transfer.stateReason).not.toBe('');
    const { deliveries } = await getTransfer(platform, source, transfer.id);
    expect(deliveries.map((d: Json) => [d.state, d.stateReason])).toEqual([
      ['DELIVERY_STATE_CANCELLED', 'Văn bản ban hành nhầm'],
      ['DELIVERY_STATE_CANCELLED', 'Văn bản ban hành nhầm'],
    ]);
    refused(
      await jsonCall(
        TRANSFER,
        'ConfirmDelivery',
        { deliveryId: delivery.id, sha256: sha256b64(content), sizeBytes: String(content.length) },
        a.apps[0]!.signer,
      ),
      'failed_precondition',
      'DELIVERY_FINAL',
    );
    expect(await pendingOf(platform, b.apps[0]!)).toEqual([]);
    expect((await purged(platform, source, transfer.blobId)).purgeReason).toBe('PURGE_REASON_CANCELLED');
    refused(
      await jsonCall(
        STORAGE,
        'DownloadChunk',
        { blobId: downloadSpace.blobId, downloadToken: downloadSpace.downloadToken, offset: '0' },
        a.apps[0]!.signer,
      ),
      'failed_precondition',
      'BLOB_PURGED',
    );
  });

  it('cancels a transfer while it is uploading: its staged bytes go', async () => {
    const source = await sourceApp();
    const { code } = await destinationUnit(source);
    const content = Buffer.from('y'.repeat(100_000));
    const created = ok(
      await jsonCall(
        TRANSFER,
        'CreateTransfer',
        createBody({ recipients: [code], content, contentType: 'text/plain' }),
        source.signer,
      ),
    );
    await uploadJson(platform, source, created.uploadSpace, content.subarray(0, 40_000));
    expect(platform.filesOf(created.uploadSpace.blobId).length).toBeGreaterThan(0);
    const cancelled = ok(
      await jsonCall(TRANSFER, 'CancelTransfer', { transferId: created.transfer.id }, source.signer),
    );
    expect(cancelled.transfer.state).toBe('TRANSFER_STATE_CANCELLED');
    await purged(platform, source, created.uploadSpace.blobId);
    const late = await jsonCall(
      STORAGE,
      'UploadChunk',
      {
        blobId: created.uploadSpace.blobId,
        uploadToken: created.uploadSpace.uploadToken,
        offset: '40000',
        chunk: content.subarray(40_000, 80_000).toString('base64'),
      },
      source.signer,
    );
    refused(late, 'failed_precondition', 'BLOB_PURGED');
    // A commit now answers with the transfer as it ended.
    const commit = ok(
      await jsonCall(TRANSFER, 'CommitTransfer', { transferId: created.transfer.id }, source.signer),
    );
    expect(commit.transfer.state).toBe('TRANSFER_STATE_CANCELLED');
  });

  it('expires what is not confirmed by the policy deadline: EXPIRED, content purged', async () => {
    const source = await sourceApp();
    const a = await destinationUnit(source);
    const b = await destinationUnit(source);
    const deadline = new Date(Date.now() + 2_000);
    const transfer = await sendJson(platform, source, {
      recipients: [a.code, b.code],
      content: json({ hạn: 'gấp' }),
      inline: true,
      policy: { deadline: deadline.toISOString() },
    });
    expect(Date.parse(transfer.policy.deadline)).toBe(deadline.getTime());
    // One destination accepted in time but never confirmed.
    const delivery = await pendingDelivery(platform, a.apps[0]!, transfer.id);
    expect(Date.parse(delivery.deadline)).toBe(deadline.getTime());
    ok(await jsonCall(TRANSFER, 'AcceptDelivery', { deliveryId: delivery.id }, a.apps[0]!.signer));

    const expired = await transferReaches(platform, source, transfer.id, 'TRANSFER_STATE_EXPIRED');
    expect(Date.parse(expired.finishTime)).toBeGreaterThanOrEqual(deadline.getTime());
    const { deliveries } = await getTransfer(platform, source, transfer.id);
    expect(deliveries.map((d: Json) => d.state)).toEqual([
      'DELIVERY_STATE_EXPIRED',
      'DELIVERY_STATE_EXPIRED',
    ]);
    refused(
      await jsonCall(TRANSFER, 'AcceptDelivery', { deliveryId: delivery.id }, a.apps[0]!.signer),
      'failed_precondition',
      'DELIVERY_FINAL',
    );
    expect((await purged(platform, source, transfer.blobId)).purgeReason).toBe('PURGE_REASON_EXPIRED');
  });

  it('ends PARTIALLY_DELIVERED when one confirms, one refuses and one runs out of time', async () => {
    const source = await sourceApp();
    const [confirms, refuses, late] = [
      await destinationUnit(source),
      await destinationUnit(source),
      await destinationUnit(source),
    ];
    const transfer = await sendJson(platform, source, {
      recipients: [confirms.code, refuses.code, late.code],
      content: json({ thongBao: 'Lịch tiếp công dân' }),
      inline: true,
      policy: { deadline: new Date(Date.now() + 3_000).toISOString() },
    });
    await receiveJson(
      platform,
      confirms.apps[0]!,
      (await pendingDelivery(platform, confirms.apps[0]!, transfer.id)).id,
    );
    ok(
      await jsonCall(
        TRANSFER,
        'RefuseDelivery',
        {
          deliveryId: (await pendingDelivery(platform, refuses.apps[0]!, transfer.id)).id,
          reason: 'REFUSAL_REASON_UNSUPPORTED_CONTENT',
        },
        refuses.apps[0]!.signer,
      ),
    );
    const done = await transferReaches(platform, source, transfer.id, 'TRANSFER_STATE_PARTIALLY_DELIVERED');
    expect(done).toMatchObject({ deliveryCount: 3, deliveredCount: 1 });
    const { deliveries } = await getTransfer(platform, source, transfer.id);
    expect(deliveries.map((d: Json) => d.state).sort()).toEqual([
      'DELIVERY_STATE_DELIVERED',
      'DELIVERY_STATE_EXPIRED',
      'DELIVERY_STATE_REFUSED',
    ]);
    expect((await purged(platform, source, transfer.blobId)).purgeReason).toBe('PURGE_REASON_DELIVERED');
  });
});

// ---------------------------------------------------------------------------

describe('retries', () => {
  it('grants a fresh download space on each accept, counting the attempts', async () => {
    const source = await sourceApp();
    const { apps } = await destinationUnit(source);
    const destination = apps[0]!;
    const transfer = await sendJson(platform, source, {
      recipients: [destination.id],
      content: json({ lan: 'nhiều' }),
      inline: true,
    });
    const delivery = await pendingDelivery(platform, destination, transfer.id);
    const first = ok(
      await jsonCall(TRANSFER, 'AcceptDelivery', { deliveryId: delivery.id }, destination.signer),
    );
    const second = ok(
      await jsonCall(TRANSFER, 'AcceptDelivery', { deliveryId: delivery.id }, destination.signer),
    );
    expect(second.delivery.attempts).toBe(first.delivery.attempts + 1);
    expect(second.downloadSpace.downloadToken).not.toBe(first.downloadSpace.downloadToken);
    expect(second.downloadSpace.id).not.toBe(first.downloadSpace.id);
    // Either space serves the content until it expires.
    for (const space of [first.downloadSpace, second.downloadSpace]) {
      expect((await downloadJson(platform, destination, space)).toString()).toBe('{"lan":"nhiều"}');
    }
  });

  it('lets the destination accept what it was notified of under a policy of one attempt', async () => {
    const source = await sourceApp();
    const { apps } = await destinationUnit(source);
    const destination = apps[0]!;
    const transfer = await sendJson(platform, source, {
      recipients: [destination.id],
      content: json({ lan: 1 }),
      inline: true,
      policy: { maxAttempts: 1 },
    });
    const delivery = await until(
      async () => {
        const d = await pendingDelivery(platform, destination, transfer.id);
        return d.state === 'DELIVERY_STATE_NOTIFIED' ? d : undefined;
      },
      10_000,
      'the delivery to be offered',
    );
    expect(delivery.attempts).toBe(1);
    const accepted = await jsonCall(
      TRANSFER,
      'AcceptDelivery',
      { deliveryId: delivery.id },
      destination.signer,
    );
    expect(ok(accepted).delivery.state).toBe('DELIVERY_STATE_ACCEPTED');
  });
});

// ---------------------------------------------------------------------------

describe('content lifetime (Art. 5.3)', () => {
  it('keeps the bytes encrypted until the transfer is final, then leaves only metadata and the digest', async () => {
    const source = await sourceApp();
    const { apps } = await destinationUnit(source);
    const destination = apps[0]!;
    const content = Buffer.from('Bí mật nhà nước: không lưu sau khi truyền nhận xong. '.repeat(2_000));
    const transfer = await sendJson(platform, source, {
      recipients: [destination.id],
      content,
      contentType: 'text/plain',
    });
    const files = platform.filesOf(transfer.blobId);
    expect(files.length).toBeGreaterThan(0);
    // Encrypted at rest: no file holds the plaintext.
    for (const file of files) {
      const stored = readFileSync(join(platform.blobDir, transfer.blobId, file));
      expect(stored.includes(Buffer.from('Bí mật nhà nước'))).toBe(false);
    }
    const sealed = await statBlob(platform, source, transfer.blobId);
    expect(sealed).toMatchObject({ state: 'BLOB_STATE_SEALED', sizeBytes: String(content.length) });

    const delivery = await pendingDelivery(platform, destination, transfer.id);
    const accepted = ok(
      await jsonCall(TRANSFER, 'AcceptDelivery', { deliveryId: delivery.id }, destination.signer),
    );
    const got = await downloadJson(platform, destination, accepted.downloadSpace);
    ok(
      await jsonCall(
        TRANSFER,
        'ConfirmDelivery',
        { deliveryId: delivery.id, sha256: sha256b64(got), sizeBytes: String(got.length) },
        destination.signer,
      ),
    );

    const blob = await purged(platform, source, transfer.blobId);
    expect(blob).toMatchObject({
      state: 'BLOB_STATE_PURGED',
      purgeReason: 'PURGE_REASON_DELIVERED',
      sha256: sha256b64(content),
      sizeBytes: String(content.length),
    });
    expect(Date.parse(blob.purgeTime)).toBeGreaterThan(0);
    expect(platform.filesOf(transfer.blobId)).toEqual([]);
    refused(
      await jsonCall(
        STORAGE,
        'DownloadChunk',
        {
          blobId: accepted.downloadSpace.blobId,
          downloadToken: accepted.downloadSpace.downloadToken,
          offset: '0',
        },
        destination.signer,
      ),
      'failed_precondition',
      'BLOB_PURGED',
    );
    // The transfer still answers with what it was: size, digest, metadata.
    const { transfer: after } = await getTransfer(platform, source, transfer.id);
    expect(after).toMatchObject({
      state: 'TRANSFER_STATE_DELIVERED',
      sha256: sha256b64(content),
      sizeBytes: String(content.length),
      blobId: transfer.blobId,
      subject: 'Công văn thử nghiệm',
    });
  });
});

// ---------------------------------------------------------------------------

describe('edXML business status and recall (QCVN 102:2016)', () => {
  it('records the statuses a destination reports after receipt, and a recall and its answer', async () => {
    const source = await sourceApp('QLVB Văn phòng UBND');
    const { apps } = await destinationUnit(source);
    const destination = apps[0]!;
    const document = Buffer.from(edxmlDocument({ from: source.unitCode, to: [destination.unitCode] }));
    const transfer = await sendJson(platform, source, {
      recipients: [destination.unitCode],
      content: document,
      inline: true,
      contentType: 'application/edxml+xml',
      protocol: 'TRANSFER_PROTOCOL_EDXML',
      policy: { notifyBusinessStatus: true },
    });
    const delivery = await pendingDelivery(platform, destination, transfer.id);
    const report = (status: string, comment = '') =>
      jsonCall(
        TRANSFER,
        'ReportDeliveryStatus',
        { deliveryId: delivery.id, status, comment },
        destination.signer,
      );
    refused(await report('EDXML_STATUS_CODE_ACCEPTED'), 'failed_precondition', 'NOT_DELIVERED');
    const { content } = await receiveJson(platform, destination, delivery.id);
    expect(content.equals(document)).toBe(true);

    expect(ok(await report('EDXML_STATUS_CODE_ACCEPTED', 'Vào sổ đến số 125')).delivery.edxmlStatus).toBe(
      'EDXML_STATUS_CODE_ACCEPTED',
    );
    expect(ok(await report('EDXML_STATUS_CODE_PROCESSING')).delivery.edxmlStatus).toBe(
      'EDXML_STATUS_CODE_PROCESSING',
    );
    refused(await report('EDXML_STATUS_CODE_RECALL_AGREED'), 'failed_precondition', 'NO_RECALL');
    expect(refused(await report('EDXML_STATUS_CODE_ARRIVED'), 'invalid_argument').violations).toEqual({
      status: 'STATUS_NOT_REPORTABLE',
    });

    const recalled = ok(
      await jsonCall(
        TRANSFER,
        'RecallTransfer',
        { transferId: transfer.id, reason: 'Văn bản cần sửa đổi' },
        source.signer,
      ),
    );
    expect(recalled.deliveries.map((d: Json) => d.edxmlStatus)).toEqual([
      'EDXML_STATUS_CODE_RECALL_REQUESTED',
    ]);
    expect(ok(await report('EDXML_STATUS_CODE_RECALL_AGREED')).delivery.edxmlStatus).toBe(
      'EDXML_STATUS_CODE_RECALL_AGREED',
    );

    const { history } = ok(
      await jsonCall(TRANSFER, 'GetDeliveryStatus', { deliveryId: delivery.id }, source.signer),
    );
    expect(
      history.filter((h: Json) => h.edxmlStatus !== undefined).map((h: Json) => [h.edxmlStatus, h.actor]),
    ).toEqual([
      ['EDXML_STATUS_CODE_ARRIVED', destination.id],
      ['EDXML_STATUS_CODE_ACCEPTED', destination.id],
      ['EDXML_STATUS_CODE_PROCESSING', destination.id],
      ['EDXML_STATUS_CODE_RECALL_REQUESTED', source.id],
      ['EDXML_STATUS_CODE_RECALL_AGREED', destination.id],
    ]);
    expect(history.find((h: Json) => h.edxmlStatus === 'EDXML_STATUS_CODE_ACCEPTED').reason).toBe(
      'Vào sổ đến số 125',
    );
  });

  it('recalls edXML documents only', async () => {
    const source = await sourceApp();
    const { apps } = await destinationUnit(source);
    const transfer = await sendJson(platform, source, {
      recipients: [apps[0]!.id],
      content: json({ a: 1 }),
      inline: true,
    });
    refused(
      await jsonCall(TRANSFER, 'RecallTransfer', { transferId: transfer.id }, source.signer),
      'failed_precondition',
      'NOT_EDXML',
    );
  });
});
