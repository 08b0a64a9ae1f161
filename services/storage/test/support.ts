/**
 * Starts a storage service against the real Postgres and NATS, in a schema,
 * a bus prefix and a blob directory (or Object Store bucket) of its own, and
 * helpers to call it as the transfer service and as apps would.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { DurationSchema } from '@bufbuild/protobuf/wkt';
import { type Client, createClient } from '@connectrpc/connect';
import { StorageService, type UploadRequest } from '#gen/lgsp/storage/v1/storage_service_pb.js';
import { silentLogger } from '#lib/logger.js';
import { createGrpcTransport } from '#lib/rpc/grpc-transport.js';
import { startService } from '#lib/service.js';
import { asApp, asService } from '../../../test/support/callers.js';
import { deleteStreams, dropSchemas } from '../../../test/support/cleanup.js';
import { TEST_DATABASE_URL, TEST_NATS_URL, uniqueName } from '../../../test/support/env.js';
import { destroyNatsBucket } from '../src/blobs/nats-object-store.js';
import { blobBucketName } from '../src/blobs/open.js';
import type { BlobBackendName } from '../src/blobs/port.js';
import { type StorageConfig, withStorageReadLimit } from '../src/config.js';
import { storageModule } from '../src/main.js';

export { asApp, asService };

export const TRANSFER = asService('transfer');
export const MiB = 1024 * 1024;

export type TestStorage = Awaited<ReturnType<typeof startTestStorage>>;

export async function startTestStorage(
  backend: BlobBackendName = 'fs',
  overrides: Partial<StorageConfig> = {},
) {
  const busPrefix = uniqueName('T').toUpperCase();
  const schema = uniqueName('storage');
  const storageDir = await mkdtemp(join(tmpdir(), 'lgsp-storage-'));
  const config: StorageConfig = withStorageReadLimit({
    service: 'storage',
    host: '127.0.0.1',
    port: 0,
    logLevel: process.env['TEST_LOG_LEVEL'] ?? 'silent',
    databaseUrl: TEST_DATABASE_URL,
    dbSchema: schema,
    dataDir: storageDir,
    natsUrl: TEST_NATS_URL,
    busPrefix,
    readMaxBytes: 1024 * 1024,
    masterKey: randomBytes(32),
    blobBackend: backend,
    storageDir,
    natsBlobReplicas: 1,
    maxBlobBytes: 2 * 1024 * MiB,
    appStagingQuotaBytes: 8 * 1024 * MiB,
    ...overrides,
  });
  const running = await startService(
    storageModule,
    config,
    process.env['TEST_LOG_LEVEL'] ? {} : { logger: silentLogger() },
  );
  const transport = createGrpcTransport({ address: new URL(running.url).host });
  const client: Client<typeof StorageService> = createClient(StorageService, transport);
  return {
    config,
    running,
    ctx: running.context,
    client,
    /** Every object the blob adapter holds for a blob. */
    objectsOf: (blobId: string) => running.context.blobs.list(`${blobId}/`),
    async close() {
      transport.close();
      await running.close();
      await dropSchemas([schema]);
      await deleteStreams(busPrefix);
      if (backend === 'nats') await destroyNatsBucket(TEST_NATS_URL, blobBucketName(busPrefix));
      await rm(storageDir, { recursive: true, force: true });
    },
  };
}

export const sha256 = (data: Uint8Array): Buffer => createHash('sha256').update(data).digest();

export const seconds = (s: number) => create(DurationSchema, { seconds: BigInt(s) });

let appCounter = 0;
/** A fresh app id and the call options of that app. */
export function newApp(): { appId: string; as: ReturnType<typeof asApp> } {
  const appId = `app_${(++appCounter).toString(16).padStart(4, '0')}${randomBytes(6).toString('hex')}`;
  return { appId, as: asApp(appId, '000.00.00.H26') };
}

/** Reserves a blob for `content` as the transfer service would. */
export async function reserve(
  storage: TestStorage,
  ownerAppId: string,
  content: Uint8Array | { size: number; sha256: Uint8Array },
  ttlSeconds?: number,
) {
  const size = content instanceof Uint8Array ? content.length : content.size;
  const digest = content instanceof Uint8Array ? sha256(content) : content.sha256;
  const res = await storage.client.reserveBlob(
    {
      ownerAppId,
      transferId: `trf_${randomBytes(8).toString('hex')}`,
      contentType: 'application/pdf',
      sizeBytes: BigInt(size),
      sha256: digest,
      ...(ttlSeconds === undefined ? {} : { ttl: seconds(ttlSeconds) }),
    },
    TRANSFER,
  );
  return { blobId: res.blob!.id, token: res.uploadToken, blob: res.blob! };
}

/** An upload stream: the header, then `data` in chunks of `chunkBytes`. */
export async function* uploadMessages(
  blobId: string,
  uploadToken: string,
  data: Uint8Array,
  offset = 0,
  chunkBytes = MiB,
): AsyncGenerator<UploadRequest> {
  yield { part: { case: 'header', value: { blobId, uploadToken, offset: BigInt(offset) } } } as UploadRequest;
  for (let at = 0; at < data.length; at += chunkBytes) {
    yield { part: { case: 'chunk', value: data.subarray(at, at + chunkBytes) } } as UploadRequest;
  }
}

/** Grants `appId` a download of the blob and returns the token. */
export async function grant(
  storage: TestStorage,
  blobId: string,
  appId: string,
  ttlSeconds?: number,
): Promise<string> {
  const res = await storage.client.grantDownload(
    { blobId, appId, ...(ttlSeconds === undefined ? {} : { ttl: seconds(ttlSeconds) }) },
    TRANSFER,
  );
  return res.downloadToken;
}

/** Downloads through the stream; returns the header and the joined chunks. */
export async function downloadAll(
  storage: TestStorage,
  request: { blobId: string; downloadToken?: string; offset?: number; limit?: number },
  options: object,
) {
  let header: { sizeBytes: bigint; sha256: Uint8Array; offset: bigint; contentType: string } | undefined;
  const chunks: Uint8Array[] = [];
  let largest = 0;
  for await (const message of storage.client.download(
    {
      blobId: request.blobId,
      downloadToken: request.downloadToken ?? '',
      offset: BigInt(request.offset ?? 0),
      limit: BigInt(request.limit ?? 0),
    },
    options,
  )) {
    if (message.part.case === 'header') header = message.part.value;
    else if (message.part.case === 'chunk') {
      chunks.push(message.part.value);
      largest = Math.max(largest, message.part.value.length);
    }
  }
  return { header, content: Buffer.concat(chunks), largest, messages: chunks.length };
}
