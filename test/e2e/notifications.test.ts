/**
 * Real-time notices through the gateway (Art. 4.5), with clients the project
 * did not generate: two apps, a transfer sent by one. The destination's
 * Subscribe stream brings NEW_DELIVERY over gRPC (grpc-js with proto-loader)
 * and over Connect JSON streaming on HTTP/1.1 (plain fetch); the source's
 * stream brings TRANSFER_STATUS once the delivery is confirmed. Then the
 * notices are acknowledged, and a stream resumed after them brings nothing
 * old.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signRequest } from '#lib/auth/signing.js';
import { loadGrpcService, type Signer, signedMetadata } from './support.js';
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
  sha256b64,
  until,
} from './transfers.support.js';

const NOTIFICATION = 'lgsp.notification.v1.NotificationService';
const NotificationClient = loadGrpcService('lgsp/notification/v1/notification_service.proto', NOTIFICATION);

let platform: Platform;
let source: App;
let destination: App;
let client: grpc.Client;

beforeAll(async () => {
  platform = await Platform.start();
  const [sourceUnit, destinationUnit] = [
    await newUnit(platform, 'Sở gửi'),
    await newUnit(platform, 'Sở nhận'),
  ];
  source = await newApp(platform, sourceUnit, 'QLVB nguồn');
  destination = await newApp(platform, destinationUnit, 'QLVB đích');
  await grantSend(platform, source, destination.id);
  client = new NotificationClient(platform.address, grpc.credentials.createInsecure());
});

afterAll(async () => {
  client?.close();
  await platform?.close();
});

// ---------------------------------------------------------------------------
// A Subscribe stream over grpc-js

interface Stream {
  /** The messages so far, as the client decoded them. */
  readonly messages: Json[];
  readonly notices: () => Json[];
  /** The error that ended the stream, if one did. */
  error(): Error | undefined;
  close(): Promise<void>;
}

function grpcSubscribe(app: App, request: Json = {}): Stream {
  const metadata = signedMetadata(NotificationClient, 'Subscribe', request, app.signer);
  const call = (
    client as unknown as {
      subscribe(request: object, metadata: grpc.Metadata): grpc.ClientReadableStream<Json>;
    }
  ).subscribe(request, metadata);
  const messages: Json[] = [];
  let failure: Error | undefined;
  const ended = new Promise<void>((resolve) => {
    call.on('data', (m: Json) => messages.push(m));
    call.on('error', (e: grpc.ServiceError) => {
      if (e.code !== grpc.status.CANCELLED) failure = e;
      resolve();
    });
    call.on('end', () => resolve());
  });
  return {
    messages,
    notices: () => messages.filter((m) => m.event === 'notice').map((m) => m.notice),
    error: () => failure,
    close: async () => {
      call.cancel();
      await ended;
    },
  };
}

// ---------------------------------------------------------------------------
// A Subscribe stream over Connect JSON streaming with fetch (HTTP/1.1)

/** One Connect streaming message: a flags byte, the length (big-endian uint32), the JSON. */
function envelope(json: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(json));
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

const END_STREAM = 0b10;

function jsonSubscribe(app: Signer, request: Json = {}): Stream & { readonly endStream: () => Json } {
  const path = `/${NOTIFICATION}/Subscribe`;
  const body = envelope(request);
  const abort = new AbortController();
  const messages: Json[] = [];
  let failure: Error | undefined;
  let end: Json;
  const done = (async () => {
    const res = await fetch(`${platform.url}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/connect+json',
        'connect-protocol-version': '1',
        ...signRequest({ method: 'POST', url: path, body, ...app }),
      },
      body,
      signal: abort.signal,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/connect+json');
    let buffered = Buffer.alloc(0);
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 5) {
        const length = buffered.readUInt32BE(1);
        if (buffered.length < 5 + length) break;
        const flags = buffered[0]!;
        const parsed = JSON.parse(buffered.subarray(5, 5 + length).toString('utf8'));
        buffered = buffered.subarray(5 + length);
        if ((flags & END_STREAM) !== 0) end = parsed;
        else messages.push(parsed);
      }
    }
  })().catch((error: unknown) => {
    if (!abort.signal.aborted) failure = error as Error;
  });
  return {
    messages,
    notices: () => messages.filter((m) => m.notice !== undefined).map((m) => m.notice),
    error: () => failure,
    endStream: () => end,
    close: async () => {
      abort.abort();
      await done;
    },
  };
}

async function noticesOn(stream: Stream, count: number, what: string): Promise<Json[]> {
  await until(
    () => {
      const failed = stream.error();
      if (failed !== undefined) throw failed;
      return stream.notices().length >= count;
    },
    15_000,
    what,
  );
  return stream.notices();
}

describe('notices through the gateway', () => {
  it('tells the destination of a transfer over gRPC and over JSON, and the source of its delivery', async () => {
    const overGrpc = grpcSubscribe(destination);
    const overJson = jsonSubscribe(destination.signer);
    const sourceStream = jsonSubscribe(source.signer);
    // Each stream opens with a heartbeat.
    await until(
      () => overGrpc.messages.length > 0 && overJson.messages.length > 0,
      10_000,
      'the first heartbeats',
    );
    await until(() => sourceStream.messages.length > 0, 10_000, "the source's first heartbeat");
    expect(overGrpc.messages[0].event).toBe('heartbeat');
    expect(overGrpc.messages[0].heartbeat.latestSequence).toBe('0');
    expect(overJson.messages[0].heartbeat).toBeDefined();

    const content = Buffer.from('{"soKyHieu":"15/2024/QĐ-UBND","trichYeu":"Quy chế LGSP"}');
    const transfer = await sendJson(platform, source, {
      recipients: [destination.id],
      content,
      inline: true,
      subject: 'Quy chế hoạt động LGSP',
      priority: 'PRIORITY_URGENT',
    });

    const [viaGrpc] = await noticesOn(overGrpc, 1, 'NEW_DELIVERY over gRPC');
    const [viaJson] = await noticesOn(overJson, 1, 'NEW_DELIVERY over JSON');
    expect(viaGrpc.kind).toBe('NOTICE_KIND_NEW_DELIVERY');
    expect(viaGrpc.payload).toBe('newDelivery');
    expect(viaGrpc.newDelivery.delivery.transferId).toBe(transfer.id);
    expect(viaGrpc.newDelivery.delivery.subject).toBe('Quy chế hoạt động LGSP');
    expect(viaGrpc.priority).toBe('PRIORITY_URGENT');
    expect(Buffer.from(viaGrpc.newDelivery.inlineContent).equals(content)).toBe(true);
    // The same notice on both streams: same id, same sequence.
    expect(viaJson.id).toBe(viaGrpc.id);
    expect(viaJson.sequence).toBe('1');
    expect(viaJson.kind).toBe('NOTICE_KIND_NEW_DELIVERY');
    expect(Buffer.from(viaJson.newDelivery.inlineContent, 'base64').equals(content)).toBe(true);

    // The content came inline: the destination confirms without a download.
    const deliveryId = viaJson.newDelivery.delivery.id;
    ok(
      await call(
        platform,
        'lgsp.transfer.v1.TransferService',
        'ConfirmDelivery',
        { deliveryId, sha256: sha256b64(content), sizeBytes: String(content.length) },
        destination.signer,
      ),
      'ConfirmDelivery',
    );
    const statuses = await until(
      () => {
        const delivered = sourceStream
          .notices()
          .filter((n) => n.transferStatus?.change?.deliveryState === 'DELIVERY_STATE_DELIVERED');
        return delivered.length > 0 ? delivered : undefined;
      },
      15_000,
      'TRANSFER_STATUS DELIVERED for the source',
    );
    expect(statuses[0].kind).toBe('NOTICE_KIND_TRANSFER_STATUS');
    expect(statuses[0].appId).toBe(source.id);
    expect(statuses[0].transferStatus.change.deliveryId).toBe(deliveryId);
    expect(statuses[0].transferStatus.change.destinationAppId).toBe(destination.id);

    await Promise.all([overGrpc.close(), overJson.close(), sourceStream.close()]);
    expect(overGrpc.error()).toBeUndefined();
    expect(overJson.error()).toBeUndefined();

    // Acknowledged, a notice is not replayed: a new stream from 0 brings only the heartbeat.
    const acked = ok(
      await call(platform, NOTIFICATION, 'AckNotices', { noticeIds: [viaJson.id] }, destination.signer),
      'AckNotices',
    );
    expect(acked).toEqual({ ackedCount: 1 });
    const listed = ok(
      await call(platform, NOTIFICATION, 'ListNotices', {}, destination.signer),
      'ListNotices',
    );
    expect(listed.notices ?? []).toEqual([]);
    const again = jsonSubscribe(destination.signer);
    await until(() => again.messages.length > 0, 10_000, 'the heartbeat of the new stream');
    await new Promise((resolve) => setTimeout(resolve, 300));
    await again.close();
    expect(again.messages).toHaveLength(1);
    expect(again.messages[0].heartbeat).toMatchObject({ latestSequence: '1' });
    expect(again.messages[0].heartbeat.unackedCount ?? 0).toBe(0);
  });

  it('ends a JSON stream with the error in its end message when the request is refused', async () => {
    const stream = jsonSubscribe(destination.signer, { afterSequence: '999', heartbeatInterval: '1s' });
    await until(() => stream.endStream() !== undefined, 10_000, 'the end of the stream');
    expect(stream.messages).toEqual([]);
    expect(stream.endStream().error.code).toBe('invalid_argument');
    const details: Json[] = stream.endStream().error.details ?? [];
    const bad = details.find((d) => d.type === 'lgsp.common.v1.BadRequest');
    expect(bad.debug.fieldViolations.map((v: Json) => v.field)).toEqual(['heartbeat_interval']);
    await stream.close();
  });

  it('refuses an unsigned stream', async () => {
    const res = await fetch(`${platform.url}/${NOTIFICATION}/Subscribe`, {
      method: 'POST',
      headers: { 'content-type': 'application/connect+json' },
      body: envelope({}),
    });
    const text = Buffer.from(await res.arrayBuffer());
    const end = JSON.parse(text.subarray(5).toString('utf8'));
    expect(text[0]! & END_STREAM).toBe(END_STREAM);
    expect(end.error.code).toBe('unauthenticated');
  });
});
