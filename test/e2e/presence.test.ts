/**
 * Presence through the gateway (Art. 5.9, 5.11): the Heartbeat walkthrough of
 * docs/notifications.md run as written (bash, curl, openssl, jq and
 * clients/shell/lgsp-call), and the whole chain with clients the project did
 * not generate — a destination subscribed over gRPC (grpc-js) is online, its
 * stream ends and it is offline at once; the transfer service hears both from
 * the notification service's events; a transfer to it, once its offline time
 * passes the policy's threshold, carries a warning naming the time the
 * notification service recorded.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { warnOfflineDestinations } from '../../services/transfer/src/consumers/offline-warnings.js';
import type { TransferContext } from '../../services/transfer/src/context.js';
import { loadGrpcService, signedMetadata } from './support.js';
import {
  call,
  grantSend,
  type Json,
  newApp,
  newUnit,
  ok,
  Platform,
  REGISTRY,
  sendJson,
  TRANSFER,
  until,
} from './transfers.support.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DOC = readFileSync(join(ROOT, 'docs/notifications.md'), 'utf8');
const NOTIFICATION = 'lgsp.notification.v1.NotificationService';
const NotificationClient = loadGrpcService('lgsp/notification/v1/notification_service.proto', NOTIFICATION);

let platform: Platform;
let scratch: string;

beforeAll(async () => {
  platform = await Platform.start();
  scratch = mkdtempSync(join(tmpdir(), 'lgsp-presence-docs-'));
});

afterAll(async () => {
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  await platform?.close();
});

const transferCtx = () =>
  platform.mesh.services.find((s) => s.name === 'transfer')!.context as unknown as TransferContext;

it('runs the Heartbeat walkthrough of docs/notifications.md as written and gets the answers it shows', async () => {
  const at = DOC.indexOf('### Heartbeat');
  const script = /```sh\n([\s\S]*?)```/.exec(DOC.slice(at))?.[1];
  expect(script, 'an sh block after "### Heartbeat"').toBeDefined();
  const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', script!], {
    cwd: ROOT,
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: scratch,
      TMPDIR: scratch,
      GW: platform.url,
      ADMIN_ENV: platform.mesh.adminEnvFile,
    },
    timeout: 60_000,
  });
  const shown = [...script!.matchAll(/^# (.+)$/gm)]
    .map((m) => m[1]!)
    .filter((l) => /^[{[]|^true|^PRESENCE/.test(l));
  expect(stdout.split('\n').filter((l) => l !== '')).toEqual(shown.map((l) => l.replace(/\\t/g, '\t')));
});

it('follows a subscribed destination online and offline into the transfer service and its warning', async () => {
  const source = await newApp(platform, await newUnit(platform, 'Đơn vị nguồn'), 'QLVB nguồn');
  const unit = await newUnit(platform, 'Đơn vị nhận');
  const destination = await newApp(platform, unit, 'QLVB nhận');
  await grantSend(platform, source, unit);

  // The destination subscribes over gRPC through the gateway: online.
  const client = new NotificationClient(platform.address, grpc.credentials.createInsecure());
  const request = {
    afterSequence: '0',
    clientTime: { seconds: String(Math.floor(Date.now() / 1000) - 3), nanos: 0 },
  };
  const stream = (
    client as unknown as {
      subscribe(request: object, metadata: grpc.Metadata): grpc.ClientReadableStream<Json>;
    }
  ).subscribe(request, signedMetadata(NotificationClient, 'Subscribe', request, destination.signer));
  stream.on('error', () => undefined);
  await new Promise((resolve) => stream.once('data', resolve));
  const presence = async () =>
    ok(await call(platform, NOTIFICATION, 'GetPresence', { appId: destination.id }, source.signer)).presence;
  await until(async () => (await presence()).state === 'PRESENCE_STATE_ONLINE', 5_000, 'online');
  expect(await presence()).toMatchObject({ channel: 'PRESENCE_CHANNEL_STREAM', openStreams: 1 });
  const stored = () =>
    transferCtx()
      .db.selectFrom('destination_presence')
      .selectAll()
      .where('app_id', '=', destination.id)
      .executeTakeFirst();
  await until(async () => (await stored())?.state === 'online', 10_000, 'the transfer service to hear it');

  // The stream ends: offline at once, and the transfer service hears that too.
  stream.cancel();
  client.close();
  await until(async () => (await presence()).state === 'PRESENCE_STATE_OFFLINE', 5_000, 'offline');
  const { events } = ok(
    await call(platform, NOTIFICATION, 'ListConnectionHistory', { appId: destination.id }, platform.admin),
  );
  expect(events.map((e: Json) => [e.state, e.reason, e.channel])).toEqual([
    ['PRESENCE_STATE_OFFLINE', 'PRESENCE_CHANGE_REASON_STREAM_CLOSED', 'PRESENCE_CHANNEL_STREAM'],
    ['PRESENCE_STATE_ONLINE', 'PRESENCE_CHANGE_REASON_STREAM_OPENED', 'PRESENCE_CHANNEL_STREAM'],
  ]);
  // The client was 3 s behind when it subscribed.
  expect(Number.parseFloat(events[1].clientClockSkew)).toBeGreaterThanOrEqual(2);
  const offlineAt = events[0].occurTime as string;
  const row = await until(
    async () => {
      const r = await stored();
      return r?.state === 'offline' ? r : undefined;
    },
    10_000,
    'the transfer service to hear the offline',
  );
  expect(row.since.toISOString()).toBe(new Date(offlineAt).toISOString());

  // A transfer to it; a minute on, the worker tells the source, naming when it went offline.
  const transfer = await sendJson(platform, source, {
    recipients: [unit],
    content: Buffer.from('{"kính gửi":"Sở"}'),
    inline: true,
    policy: { offlineThreshold: '60s' },
  });
  expect(await warnOfflineDestinations(transferCtx(), new Date(Date.now() + 61_000))).toBeGreaterThanOrEqual(
    1,
  );
  const { history } = ok(
    await call(platform, TRANSFER, 'GetDeliveryStatus', { transferId: transfer.id }, source.signer),
  );
  const warning = history.find(
    (h: Json) => h.actor === 'platform' && String(h.reason).includes(destination.id),
  );
  expect(warning.reason).toContain(`has been offline since ${new Date(offlineAt).toISOString()}`);
  const notice = await until(
    async () => {
      const { notices } = ok(await call(platform, NOTIFICATION, 'ListNotices', {}, source.signer));
      return (notices ?? []).find((n: Json) => n.kind === 'NOTICE_KIND_DESTINATION_OFFLINE');
    },
    10_000,
    'the DESTINATION_OFFLINE notice',
  );
  expect(new Date(notice.destinationOffline.offlineSince).toISOString()).toBe(
    new Date(offlineAt).toISOString(),
  );
});

it('ends the stream of an app the registry suspends, and records it offline for that reason', async () => {
  const unit = await newUnit(platform, 'Đơn vị bị tạm dừng');
  const app = await newApp(platform, unit, 'QLVB tạm dừng');
  const client = new NotificationClient(platform.address, grpc.credentials.createInsecure());
  const request = { afterSequence: '0' };
  const stream = (
    client as unknown as {
      subscribe(request: object, metadata: grpc.Metadata): grpc.ClientReadableStream<Json>;
    }
  ).subscribe(request, signedMetadata(NotificationClient, 'Subscribe', request, app.signer));
  const ended = new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
  await new Promise((resolve) => stream.once('data', resolve));

  ok(
    await call(
      platform,
      REGISTRY,
      'SetAppStatus',
      { id: app.id, status: 'APP_STATUS_SUSPENDED', reason: 'kiểm tra an toàn thông tin' },
      platform.admin,
    ),
  );
  const error = await ended;
  expect(grpc.status[error.code]).toBe('PERMISSION_DENIED');
  expect(error.details).toContain('suspended or retired');
  client.close();
  const history = await until(
    async () => {
      const { events } = ok(
        await call(platform, NOTIFICATION, 'ListConnectionHistory', { appId: app.id }, platform.admin),
      );
      return events?.length === 2 ? events : undefined;
    },
    5_000,
    'the offline transition',
  );
  expect(history[0]).toMatchObject({
    state: 'PRESENCE_STATE_OFFLINE',
    reason: 'PRESENCE_CHANGE_REASON_APP_DISABLED',
    channel: 'PRESENCE_CHANNEL_STREAM',
  });
});
