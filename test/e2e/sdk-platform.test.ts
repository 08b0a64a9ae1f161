/**
 * The SDK against the whole platform (`Platform.start()`): sending and
 * receiving small inline and multi-MiB uploaded content over gRPC and over
 * Connect JSON, a resumed upload, the notice subscription surviving a cut
 * connection, bad credentials, and the examples of sdk/examples run as
 * child processes.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AuthenticationError,
  DeliveryState,
  LgspClient,
  type LgspClientOptions,
  type Notice,
  NoticeKind,
  PermissionDeniedError,
  type Progress,
  TransferState,
} from '#sdk';
import { type App, grantSend, newApp, newUnit, Platform, sha256, until } from './transfers.support.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;

let platform: Platform;
let source: App;
let destination: App;
let work: string;
const clients: LgspClient[] = [];

/** The secret of a test app's HMAC signer. */
const secretOf = (app: App) => {
  const key = app.signer.key;
  if (key.kind !== 'hmac') throw new Error('HMAC keys only');
  return String(key.secret);
};

function clientOf(app: App, options: LgspClientOptions = {}): LgspClient {
  const client = new LgspClient({
    url: platform.url,
    credentials: { accessKeyId: app.signer.accessKeyId, secretKey: secretOf(app) },
    env: {},
    ...options,
  });
  clients.push(client);
  return client;
}

/** The environment an example or the CLI reads its credentials from. */
const envOf = (app: App) => ({
  ...process.env,
  LGSP_URL: platform.url,
  LGSP_ACCESS_KEY_ID: app.signer.accessKeyId,
  LGSP_SECRET_KEY: secretOf(app),
});

beforeAll(async () => {
  // The production request limit, so that 256 KiB pieces and 1 MiB messages pass the gateway.
  platform = await Platform.start({ readMaxBytes: 4 * MiB + 64 * 1024 });
  const sourceUnit = await newUnit(platform, 'Sở gửi SDK');
  const destinationUnit = await newUnit(platform, 'Sở nhận SDK');
  source = await newApp(platform, sourceUnit, 'QLVB gửi', [
    'application/json',
    'application/octet-stream',
    'text/plain',
  ]);
  destination = await newApp(platform, destinationUnit, 'QLVB nhận', [
    'application/json',
    'application/octet-stream',
    'text/plain',
  ]);
  await grantSend(platform, source, destination.id);
  work = mkdtempSync(join(tmpdir(), 'lgsp-sdk-e2e-'));
}, 120_000);

afterAll(async () => {
  for (const client of clients) client.close();
  rmSync(work, { recursive: true, force: true });
  await platform?.close();
}, 60_000);

describe.each(['grpc', 'connect'] as const)('send and receive over %s', (protocol) => {
  it('sends small content inline and receives it', async () => {
    const sender = clientOf(source, { protocol });
    const receiver = clientOf(destination, { protocol });
    const content = Buffer.from(JSON.stringify({ soKyHieu: `12/${protocol}`, trichYeu: 'Giấy mời họp' }));
    const sent = await sender.send({
      to: destination.id,
      content,
      contentType: 'application/json',
      subject: `Giấy mời họp (${protocol})`,
      priority: 'flash',
    });
    expect(sent.inline).toBe(true);
    expect(sent.transfer.state).toBe(TransferState.DELIVERING);

    const waiting = await until(
      async () => (await receiver.inbox()).find((d) => d.transferId === sent.transfer.id),
      10_000,
      'the delivery in the inbox',
    );
    const received = await receiver.receive(waiting.id, { receiptRef: 'Sổ đến 1' });
    expect(received.inline).toBe(true);
    expect(Buffer.from(received.content!).equals(content)).toBe(true);
    expect(received.delivery.state).toBe(DeliveryState.DELIVERED);
    const status = await sender.status(sent.transfer.id);
    expect(status.state).toBe(TransferState.DELIVERED);
    expect(status.history.length).toBeGreaterThan(0);
  });

  it('uploads multi-MiB content with progress and downloads it to a file, digest verified', async () => {
    const sender = clientOf(source, { protocol });
    const receiver = clientOf(destination, { protocol });
    const size = (protocol === 'grpc' ? 8 : 3) * MiB + 12_345;
    const file = join(work, `bao-cao-${protocol}.bin`);
    writeFileSync(file, randomBytes(size));
    const sentProgress: Progress[] = [];
    let started = Date.now();
    const sent = await sender.send({
      to: destination.id,
      content: file,
      subject: `Báo cáo lớn (${protocol})`,
      onProgress: (p) => sentProgress.push(p),
    });
    const uploadSeconds = (Date.now() - started) / 1000;
    expect(sent.inline).toBe(false);
    expect(sent.transfer.state).toBe(TransferState.DELIVERING);
    expect(sentProgress.length).toBeGreaterThan(3);
    expect(sentProgress.at(-1)).toEqual({ bytes: size, totalBytes: size });
    expect(sentProgress.map((p) => p.bytes)).toEqual(
      [...sentProgress.map((p) => p.bytes)].sort((a, b) => a - b),
    );

    const delivery = await until(
      async () => (await receiver.inbox()).find((d) => d.transferId === sent.transfer.id),
      10_000,
      'the delivery in the inbox',
    );
    const target = join(work, `nhan-${protocol}.bin`);
    const receivedProgress: Progress[] = [];
    started = Date.now();
    const received = await receiver.receive(delivery.id, {
      to: target,
      onProgress: (p) => receivedProgress.push(p),
    });
    const downloadSeconds = (Date.now() - started) / 1000;
    expect(received.inline).toBe(false);
    expect(received.sha256).toBe(sent.sha256);
    expect(sha256(readFileSync(target)).equals(sha256(readFileSync(file)))).toBe(true);
    expect(receivedProgress.at(-1)).toEqual({ bytes: size, totalBytes: size });
    expect(received.delivery.state).toBe(DeliveryState.DELIVERED);
    console.log(
      `${protocol}: ${(size / MiB).toFixed(1)} MiB up in ${uploadSeconds.toFixed(2)} s ` +
        `(${(size / MiB / uploadSeconds).toFixed(1)} MiB/s, send() with hashing and commit), ` +
        `down in ${downloadSeconds.toFixed(2)} s (${(size / MiB / downloadSeconds).toFixed(1)} MiB/s, receive() with confirm)`,
    );
  }, 120_000);
});

it('sends a Readable (spooled, then uploaded) and resumes an upload that stopped half-way', async () => {
  const sender = clientOf(source);
  const content = randomBytes(2 * MiB);
  const sent = await sender.send({
    to: destination.id,
    content: Readable.from([content.subarray(0, MiB), content.subarray(MiB)]),
    contentType: 'application/octet-stream',
    subject: 'Từ một luồng',
  });
  expect(sent.inline).toBe(false);
  expect(sent.sha256).toBe(sha256(content).toString('hex'));

  // A transfer whose upload broke after its first piece: the SDK goes on from where the platform stands.
  const created = await sender.transfers.createTransfer({
    recipients: [{ party: { case: 'appId', value: destination.id } }],
    subject: 'Nửa chừng',
    contentType: 'application/octet-stream',
    protocol: 3,
    sizeBytes: BigInt(content.length),
    sha256: sha256(content),
    idempotencyKey: `resume-${Date.now()}`,
  });
  const space = created.uploadSpace!;
  const first = await sender.storage.uploadChunk({
    blobId: space.blobId,
    uploadToken: space.uploadToken,
    offset: 0n,
    chunk: content.subarray(0, 512 * 1024),
  });
  expect(first.receivedBytes).toBe(BigInt(512 * 1024));
  const progress: Progress[] = [];
  const uploaded = await sender.upload(space, content, {
    sha256: sha256(content),
    onProgress: (p) => progress.push(p),
  });
  expect(uploaded.resumedFrom).toBe(512 * 1024);
  expect(uploaded.receivedBytes).toBe(content.length);
  expect(progress[0]!.bytes).toBeGreaterThan(512 * 1024);
  const committed = await sender.transfers.commitTransfer({ transferId: created.transfer!.id });
  expect(committed.transfer?.state).toBe(TransferState.DELIVERING);
}, 60_000);

/** A TCP relay to the gateway whose connections can be cut at will. */
async function relay(port: number) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((downstream) => {
    const upstream = net.connect(port, '127.0.0.1');
    for (const [a, b] of [
      [downstream, upstream],
      [upstream, downstream],
    ] as const) {
      sockets.add(a);
      a.pipe(b);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        sockets.delete(a);
        b.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    cut: () => {
      for (const socket of sockets) socket.destroy();
    },
    close: () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      return closed;
    },
  };
}

it('keeps a subscription across a cut connection: every notice once, in order, acknowledged', async () => {
  // A destination of its own: deliveries left unconfirmed by earlier tests are offered
  // again later, and their notices would interleave with this test's.
  const destination = await newApp(platform, await newUnit(platform, 'Sở nhận thông báo'), 'QLVB thông báo', [
    'application/json',
  ]);
  await grantSend(platform, source, destination.id);
  const proxy = await relay(Number(new URL(platform.url).port));
  const sender = clientOf(source);
  const receiver = clientOf(destination, { url: proxy.url, retry: { initialBackoffMs: 100 } });
  // Start from what is there now, so that earlier tests' notices do not count.
  const before = await receiver.notifications.heartbeat({});
  const subscription = receiver.subscribe({
    afterSequence: before.latestSequence,
    kinds: [NoticeKind.NEW_DELIVERY],
    heartbeatIntervalSeconds: 5,
  });
  const seen: Notice[] = [];
  const loop = (async () => {
    for await (const notice of subscription) {
      seen.push(notice);
      if (seen.length === 3) break;
    }
  })();
  const sendOne = (n: number) =>
    sender.send({
      to: destination.id,
      content: Buffer.from(`{"n":${n}}`),
      contentType: 'application/json',
      subject: `Thông báo ${n}`,
    });
  try {
    await sendOne(1);
    await until(() => seen.length === 1, 10_000, 'the first notice');
    proxy.cut();
    // Sent while the stream is down.
    await sendOne(2);
    await sendOne(3);
    await until(() => seen.length === 3, 20_000, 'the notices sent while the stream was down');
    await loop;
  } finally {
    subscription.close();
  }
  expect(subscription.reconnects).toBeGreaterThanOrEqual(1);
  const sequences = seen.map((n) => n.sequence);
  expect(sequences).toEqual([
    before.latestSequence + 1n,
    before.latestSequence + 2n,
    before.latestSequence + 3n,
  ]);
  expect(
    seen.map((n) => (n.payload.case === 'newDelivery' ? n.payload.value.delivery?.subject : '')),
  ).toEqual(['Thông báo 1', 'Thông báo 2', 'Thông báo 3']);
  // The first two were acknowledged as the loop went on; the third one when told.
  const waiting = await receiver.notifications.listNotices({ afterSequence: before.latestSequence });
  expect(waiting.notices.map((n) => n.sequence)).toEqual([sequences[2]]);
  await subscription.ack();
  expect(
    (await receiver.notifications.listNotices({ afterSequence: before.latestSequence })).notices,
  ).toEqual([]);
}, 60_000);

describe('credentials', () => {
  it('a wrong secret is an AuthenticationError that says what to check', async () => {
    const client = new LgspClient({
      url: platform.url,
      credentials: { accessKeyId: source.signer.accessKeyId, secretKey: 'not-the-secret' },
      env: {},
    });
    clients.push(client);
    const error = (await client.inbox().catch((e: unknown) => e)) as AuthenticationError;
    expect(error).toBeInstanceOf(AuthenticationError);
    expect(error.reason).toBe('BAD_SIGNATURE');
    expect(error.hint).toMatch(/LGSP_SECRET_KEY/);
  });

  it('an unknown key and a missing key are refused with their reasons', async () => {
    const unknown = new LgspClient({
      url: platform.url,
      credentials: { accessKeyId: 'LGSPNOSUCHKEY0000000', secretKey: 'x' },
      env: {},
    });
    const anonymous = new LgspClient({ url: platform.url, credentials: null, env: {} });
    clients.push(unknown, anonymous);
    await expect(unknown.inbox()).rejects.toMatchObject({ reason: 'UNKNOWN_KEY' });
    await expect(anonymous.inbox()).rejects.toMatchObject({ reason: 'AUTHENTICATION_REQUIRED' });
    // Public reads need no key.
    expect((await anonymous.searchUnits('so tai chinh'))[0]?.code).toBe('000.00.03.H26');
  });

  it("an operator's key cannot send: PermissionDeniedError APP_REQUIRED", async () => {
    const admin = platform.admin;
    const client = new LgspClient({
      url: platform.url,
      credentials: {
        accessKeyId: admin.accessKeyId,
        secretKey: String((admin.key as { secret: string }).secret),
      },
      env: {},
    });
    clients.push(client);
    const error = await client.inbox().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermissionDeniedError);
    expect(error).toMatchObject({ reason: 'APP_REQUIRED' });
  });
});

describe('the examples of sdk/examples', () => {
  const example = (name: string, args: string[], env: NodeJS.ProcessEnv) =>
    run(process.execPath, ['--import', 'tsx', join('sdk/examples', name), ...args], { env, timeout: 60_000 });

  it('search-units, send, receive and watch run as documented', async () => {
    const search = await example('search-units.ts', ['so tai chinh'], {
      ...process.env,
      LGSP_URL: platform.url,
    });
    expect(search.stdout.split('\n')[0]).toBe('000.00.03.H26\tSở Tài chính');

    const file = join(work, 'cong-van.txt');
    writeFileSync(file, 'Công văn số 15/STC gửi các sở.\n');
    const sent = await example('send.ts', [file, destination.id, 'Công văn 15'], envOf(source));
    expect(sent.stdout).toMatch(/^trf_[0-9a-f]{16}\tDELIVERING\tinline\n$/);
    expect(sent.stderr).toMatch(/sent \d+ of \d+ bytes/);

    // watch: the notice of that transfer, then stop; receive: the content into a folder.
    const watched = await example('watch.ts', ['1'], envOf(destination));
    expect(watched.stdout).toMatch(/^\d+\tNEW_DELIVERY\t/);
    const folder = mkdtempSync(join(work, 'inbox-'));
    const received = await example('receive.ts', [folder], envOf(destination));
    const line = received.stdout.split('\n').find((l) => l.includes('Công văn 15'));
    expect(line, received.stdout).toBeDefined();
    const deliveryId = line!.split('\t')[0]!;
    expect(readFileSync(join(folder, `${deliveryId}.bin`), 'utf8')).toBe('Công văn số 15/STC gửi các sở.\n');
  }, 120_000);
});
