/**
 * What the end-to-end suites of the transfer flows (`transfers-*.test.ts`)
 * share: a mesh that can be restarted on the same data, fixtures made through
 * the public API as an administrator would, Connect JSON and grpc-js calls
 * through the gateway (unary, streamed upload, streamed download), the audit
 * stream, the DeliveryOffered events on the bus, and the storage's blob
 * directory. Nothing here uses the project's generated clients.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { expect } from 'vitest';
import { type AuditEvent, AuditEventSchema } from '#gen/lgsp/common/v1/audit_pb.js';
import { BadRequestSchema, ErrorInfoSchema } from '#gen/lgsp/common/v1/common_pb.js';
import { type DeliveryOffered, DeliveryOfferedSchema } from '#gen/lgsp/transfer/v1/events_pb.js';
import { auditStream } from '#lib/audit.js';
import { signRequest, UNSIGNED_STREAM } from '#lib/auth/signing.js';
import type { Subscription } from '#lib/bus/bus.js';
import { createLogger, silentLogger } from '#lib/logger.js';
import { REQUEST_ID_HEADER } from '#lib/rpc/caller.js';
import { type EmbeddedMesh, type EmbeddedOptions, startEmbeddedMesh } from '../../embedded/mesh.js';
import type { StorageConfig } from '../../services/storage/src/config.js';
import { deleteStreams, dropSchemas } from '../support/cleanup.js';
import { TEST_DATABASE_URL, TEST_NATS_URL, uniqueName } from '../support/env.js';
import {
  callUnary,
  decodeRpcStatus,
  hmacSigner,
  type JsonAnswer,
  loadGrpcService,
  postJson,
  READ_MAX_BYTES,
  SERVICES,
  type Signer,
  signedMetadata,
  type UnaryOutcome,
} from './support.js';

export const REGISTRY = 'lgsp.registry.v1.RegistryService';
export const AUTH = 'lgsp.auth.v1.AuthService';
export const TRANSFER = 'lgsp.transfer.v1.TransferService';
export const STORAGE = 'lgsp.storage.v1.StorageService';

export const TransferClient = loadGrpcService('lgsp/transfer/v1/transfer_service.proto', TRANSFER);
export const StorageClient = loadGrpcService('lgsp/storage/v1/storage_service.proto', STORAGE);

// biome-ignore lint/suspicious/noExplicitAny: JSON answers and proto-loader messages are read field by field.
export type Json = any;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `condition` until it holds, failing after `timeoutMs` with what was awaited. */
export async function until<T>(
  condition: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

export const sha256 = (bytes: Uint8Array): Buffer => createHash('sha256').update(bytes).digest();
export const sha256b64 = (bytes: Uint8Array): string => sha256(bytes).toString('base64');

/** Deterministic, incompressible-looking content of `size` bytes. */
export function pseudoRandom(size: number, seed = 1): Buffer {
  const out = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

// ---------------------------------------------------------------------------
// The mesh

export interface MeshOptions {
  /** The gateway's (and services') request limit; default the e2e mesh's 64 KiB. */
  readonly readMaxBytes?: number;
  /** The NATS server the mesh uses (and whose streams `close` deletes); default the shared one. */
  readonly natsUrl?: string;
  /** Gateway settings beyond the mesh's defaults (rate and stream limits, CORS). */
  readonly gateway?: EmbeddedOptions['gateway'];
}

/**
 * The whole platform in this process, as `startE2eMesh` starts it, that can
 * also be stopped and started again on the same schemas, bus prefix and data
 * directory (what a restart of every process of a deployment looks like).
 */
export class Platform {
  readonly schemaPrefix = `${uniqueName('e2etrf')}_`;
  readonly busPrefix = uniqueName('E2ETRF').toUpperCase();
  readonly dataDir = mkdtempSync(join(tmpdir(), 'lgsp-e2e-transfers-'));
  #mesh: EmbeddedMesh | undefined;
  #admin: Signer | undefined;
  readonly #readMaxBytes: number;
  readonly #gateway: MeshOptions['gateway'];
  /** The NATS server of the mesh. */
  readonly natsUrl: string;

  private constructor(options: MeshOptions) {
    this.#readMaxBytes = options.readMaxBytes ?? READ_MAX_BYTES;
    this.#gateway = options.gateway;
    this.natsUrl = options.natsUrl ?? TEST_NATS_URL;
  }

  static async start(options: MeshOptions = {}): Promise<Platform> {
    const platform = new Platform(options);
    try {
      await platform.startMesh();
    } catch (error) {
      await platform.close();
      throw error;
    }
    return platform;
  }

  get mesh(): EmbeddedMesh {
    if (this.#mesh === undefined) throw new Error('the mesh is stopped');
    return this.#mesh;
  }

  /** `http://127.0.0.1:<port>` of the gateway (a new port after a restart). */
  get url(): string {
    return this.mesh.gateway.url;
  }

  /** `127.0.0.1:<port>` of the gateway, for grpc-js. */
  get address(): string {
    return new URL(this.url).host;
  }

  /** The first administrator, created at the first start and kept across restarts. */
  get admin(): Signer {
    if (this.#admin === undefined) throw new Error('no administrator yet');
    return this.#admin;
  }

  /** Where the storage service keeps the blobs' bytes (filesystem adapter). */
  get blobDir(): string {
    const storage = this.mesh.services.find((s) => s.name === 'storage');
    if (storage === undefined) throw new Error('the mesh runs no storage service');
    return (storage.context as { config: StorageConfig }).config.storageDir;
  }

  /** The files the storage holds for a blob: none once its content was purged. */
  filesOf(blobId: string): string[] {
    try {
      return readdirSync(join(this.blobDir, blobId), { recursive: true }).map(String);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  /** Stops every service and the gateway; the data stays. */
  async stop(): Promise<void> {
    const mesh = this.#mesh;
    this.#mesh = undefined;
    await mesh?.close();
  }

  /** Stops the mesh if it runs, then starts a new one on the same data. */
  async restart(): Promise<void> {
    await this.stop();
    await this.startMesh();
  }

  /** Stops the mesh and removes its schemas, streams and data directory. */
  async close(): Promise<void> {
    await this.stop().catch(() => undefined);
    await dropSchemas(SERVICES.map((service) => `${this.schemaPrefix}${service}`));
    await deleteStreams(this.busPrefix, this.natsUrl);
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  private async startMesh(): Promise<void> {
    const level = process.env['TEST_LOG_LEVEL'];
    const mesh = await startEmbeddedMesh({
      dataDir: this.dataDir,
      gatewayPort: 0,
      databaseUrl: TEST_DATABASE_URL,
      nats: this.natsUrl,
      busPrefix: this.busPrefix,
      schemaPrefix: this.schemaPrefix,
      seedDemo: true,
      logger: level === undefined ? silentLogger() : createLogger({ level }),
      readMaxBytes: this.#readMaxBytes,
      ...(this.#gateway === undefined ? {} : { gateway: this.#gateway }),
    });
    this.#mesh = mesh;
    if (mesh.firstAdmin !== undefined) {
      this.#admin = hmacSigner(mesh.firstAdmin.accessKeyId, mesh.firstAdmin.secret);
    }
    if (this.#admin === undefined) throw new Error('the first start must create the first administrator');
  }
}

// ---------------------------------------------------------------------------
// Connect JSON

export interface CallOptions {
  /** The request id to send, by which the call's audit events are found. */
  readonly requestId?: string;
  readonly headers?: Record<string, string>;
}

/** A signed Connect JSON call through the gateway; never throws on an error answer. */
export function call(
  platform: Platform,
  service: string,
  method: string,
  body: unknown,
  signer: Signer | undefined,
  options: CallOptions = {},
): Promise<JsonAnswer> {
  return postJson(platform.url, method, body, {
    service,
    ...(signer === undefined ? {} : { signer }),
    headers: {
      ...(options.requestId === undefined ? {} : { [REQUEST_ID_HEADER]: options.requestId }),
      ...options.headers,
    },
  });
}

/** Asserts a successful answer and returns its body. */
export function ok(answer: JsonAnswer, what = ''): Json {
  expect(answer.status, `${what} ${JSON.stringify(answer.body)}`).toBe(200);
  return answer.body;
}

export interface Refusal {
  readonly code: string;
  readonly message: string;
  /** ErrorInfo reason, or `INVALID_ARGUMENT` for a BadRequest. */
  readonly reason: string;
  readonly metadata: Record<string, string>;
  /** BadRequest field violations: field → reason. */
  readonly violations: Record<string, string>;
}

/** Reads a Connect JSON error: its code and the reason of its ErrorInfo or BadRequest detail. */
export function refusalOf(answer: JsonAnswer): Refusal {
  const body = answer.body ?? {};
  const details: Json[] = body.details ?? [];
  const info = details.find((d) => d.type === 'lgsp.common.v1.ErrorInfo')?.debug;
  const bad = details.find((d) => d.type === 'lgsp.common.v1.BadRequest')?.debug;
  const violations: Record<string, string> = {};
  for (const v of bad?.fieldViolations ?? []) violations[v.field] = v.reason ?? '';
  return {
    code: body.code ?? `http ${answer.status}`,
    message: body.message ?? '',
    reason: info?.reason ?? (bad === undefined ? '' : 'INVALID_ARGUMENT'),
    metadata: info?.metadata ?? {},
    violations,
  };
}

/** Asserts an error answer with `code` and, when given, `reason`; returns it. */
export function refused(answer: JsonAnswer, code: string, reason?: string): Refusal {
  const refusal = refusalOf(answer);
  expect(refusal.code, JSON.stringify(answer.body)).toBe(code);
  expect(answer.status).toBeGreaterThanOrEqual(400);
  if (reason !== undefined) expect(refusal.reason, JSON.stringify(answer.body)).toBe(reason);
  return refusal;
}

// ---------------------------------------------------------------------------
// Fixtures through the public API

export interface App {
  readonly id: string;
  readonly unitCode: string;
  readonly signer: Signer;
}

export const ACCEPTED_TYPES = ['application/json', 'text/plain', 'application/edxml+xml', 'application/pdf'];

let unitNumber = 0;

/** A new unit under the province, with a code the demo tree does not use. */
export async function newUnit(platform: Platform, name = 'Đơn vị thử'): Promise<string> {
  const n = unitNumber++;
  const code = `000.${String(60 + Math.floor(n / 100)).padStart(2, '0')}.${String(n % 100).padStart(2, '0')}.H26`;
  ok(
    await call(
      platform,
      REGISTRY,
      'CreateUnit',
      { code, name: `${name} ${code}`, parentCode: '000.00.00.H26', kind: 'UNIT_KIND_OTHER' },
      platform.admin,
    ),
    'CreateUnit',
  );
  return code;
}

/** A registered app of `unitCode` with an HMAC credential. */
export async function newApp(
  platform: Platform,
  unitCode: string,
  name: string,
  acceptedContentTypes: readonly string[] = ACCEPTED_TYPES,
): Promise<App> {
  const { app } = ok(
    await call(
      platform,
      REGISTRY,
      'RegisterApp',
      { unitCode, name, kind: 'APP_KIND_DOCUMENT_SYSTEM', acceptedContentTypes },
      platform.admin,
    ),
    'RegisterApp',
  );
  const credential = ok(
    await call(
      platform,
      AUTH,
      'CreateCredential',
      { owner: { appId: app.id }, label: 'e2e' },
      platform.admin,
    ),
    'CreateCredential',
  );
  return {
    id: app.id,
    unitCode,
    signer: hmacSigner(credential.credential.accessKeyId, credential.secretKey),
  };
}

/** A SEND grant of `source` on a unit (by code) or an app (by id). */
export async function grantSend(platform: Platform, source: App, object: string): Promise<void> {
  const target = object.startsWith('app_') ? { appId: object } : { unitCode: object };
  ok(
    await call(
      platform,
      REGISTRY,
      'CreateGrant',
      { subject: { appId: source.id }, object: target, action: 'GRANT_ACTION_SEND', note: 'e2e' },
      platform.admin,
    ),
    'CreateGrant',
  );
}

/** Recipients as JSON parties: unit codes and app ids. */
export const parties = (...recipients: string[]) =>
  recipients.map((r) => (r.startsWith('app_') ? { appId: r } : { unitCode: r }));

export interface TransferRequest {
  readonly recipients: readonly string[];
  readonly content: Buffer;
  readonly subject?: string;
  readonly contentType?: string;
  readonly protocol?: string;
  readonly priority?: string;
  readonly idempotencyKey?: string;
  readonly inline?: boolean;
  readonly policy?: Json;
}

/** The JSON body of a CreateTransfer for `request`. */
export function createBody(request: TransferRequest): Json {
  return {
    recipients: parties(...request.recipients),
    subject: request.subject ?? 'Công văn thử nghiệm',
    contentType: request.contentType ?? 'application/json',
    protocol: request.protocol ?? 'TRANSFER_PROTOCOL_PLAIN_DATA',
    sizeBytes: String(request.content.length),
    sha256: sha256b64(request.content),
    ...(request.priority === undefined ? {} : { priority: request.priority }),
    ...(request.idempotencyKey === undefined ? {} : { idempotencyKey: request.idempotencyKey }),
    ...(request.policy === undefined ? {} : { policy: request.policy }),
    ...(request.inline === true ? { inlineContent: request.content.toString('base64') } : {}),
  };
}

/** Sends a transfer over JSON: inline, or uploaded in pieces and committed. Returns the transfer. */
export async function sendJson(platform: Platform, source: App, request: TransferRequest): Promise<Json> {
  const created = ok(
    await call(platform, TRANSFER, 'CreateTransfer', createBody(request), source.signer),
    'CreateTransfer',
  );
  if (request.inline === true) return created.transfer;
  await uploadJson(platform, source, created.uploadSpace, request.content);
  const committed = ok(
    await call(platform, TRANSFER, 'CommitTransfer', { transferId: created.transfer.id }, source.signer),
    'CommitTransfer',
  );
  return committed.transfer;
}

/** UploadChunk piece by piece from `from`; pieces stay under the gateway's 64 KiB limit once in base64. */
export async function uploadJson(
  platform: Platform,
  source: App,
  space: Json,
  content: Buffer,
  from = 0,
  pieceBytes = 40_000,
): Promise<Json> {
  let last: Json;
  for (let offset = from; offset < content.length; offset += pieceBytes) {
    last = ok(
      await call(
        platform,
        STORAGE,
        'UploadChunk',
        {
          blobId: space.blobId,
          uploadToken: space.uploadToken,
          offset: String(offset),
          chunk: content.subarray(offset, offset + pieceBytes).toString('base64'),
        },
        source.signer,
      ),
      `UploadChunk at ${offset}`,
    );
  }
  return last;
}

/** DownloadChunk piece by piece until `eof`. */
export async function downloadJson(platform: Platform, app: App, space: Json, pieceBytes = 30_000) {
  const pieces: Buffer[] = [];
  for (let offset = 0, eof = false; !eof; ) {
    const piece = ok(
      await call(
        platform,
        STORAGE,
        'DownloadChunk',
        {
          blobId: space.blobId,
          downloadToken: space.downloadToken,
          offset: String(offset),
          limit: pieceBytes,
        },
        app.signer,
      ),
      `DownloadChunk at ${offset}`,
    );
    expect(Number(piece.offset ?? 0)).toBe(offset);
    pieces.push(Buffer.from(piece.chunk ?? '', 'base64'));
    offset += pieces.at(-1)!.length;
    eof = piece.eof === true;
  }
  return Buffer.concat(pieces);
}

/** The deliveries waiting for `app`, first page. */
export async function pendingOf(platform: Platform, app: App, body: Json = {}): Promise<Json[]> {
  const answer = ok(await call(platform, TRANSFER, 'ListPendingDeliveries', body, app.signer));
  return answer.deliveries ?? [];
}

/** The delivery of `transferId` waiting for `app`. */
export async function pendingDelivery(platform: Platform, app: App, transferId: string): Promise<Json> {
  const found = (await pendingOf(platform, app, { pageSize: 200 })).find((d) => d.transferId === transferId);
  expect(found, `a delivery of ${transferId} waits for ${app.id}`).toBeDefined();
  return found;
}

/** Accept, fetch over JSON, check the digest, confirm: returns the bytes received and the confirmed delivery. */
export async function receiveJson(
  platform: Platform,
  app: App,
  deliveryId: string,
): Promise<{ content: Buffer; delivery: Json }> {
  const accepted = ok(
    await call(platform, TRANSFER, 'AcceptDelivery', { deliveryId }, app.signer),
    'AcceptDelivery',
  );
  expect(accepted.delivery.state).toBe('DELIVERY_STATE_ACCEPTED');
  const content = await downloadJson(platform, app, accepted.downloadSpace);
  expect(sha256b64(content)).toBe(accepted.downloadSpace.sha256);
  const confirmed = ok(
    await call(
      platform,
      TRANSFER,
      'ConfirmDelivery',
      { deliveryId, sha256: sha256b64(content), sizeBytes: String(content.length) },
      app.signer,
    ),
    'ConfirmDelivery',
  );
  return { content, delivery: confirmed.delivery };
}

export async function getTransfer(platform: Platform, app: App, transferId: string): Promise<Json> {
  return ok(await call(platform, TRANSFER, 'GetTransfer', { transferId }, app.signer), 'GetTransfer');
}

/** Waits until the transfer is in `state` (as its source sees it), and returns it. */
export function transferReaches(platform: Platform, source: App, transferId: string, state: string) {
  return until(
    async () => {
      const { transfer } = await getTransfer(platform, source, transferId);
      return transfer.state === state ? transfer : undefined;
    },
    10_000,
    `transfer ${transferId} to be ${state}`,
  );
}

/** The blob as its owner (the source) sees it through StorageService/Stat. */
export async function statBlob(platform: Platform, owner: App, blobId: string): Promise<Json> {
  return ok(await call(platform, STORAGE, 'Stat', { blobId }, owner.signer), 'Stat').blob;
}

/** Waits until the storage purged the blob's content: Stat says PURGED and no file is left. */
export async function purged(platform: Platform, owner: App, blobId: string): Promise<Json> {
  return until(
    async () => {
      const blob = await statBlob(platform, owner, blobId);
      return blob.state === 'BLOB_STATE_PURGED' && platform.filesOf(blobId).length === 0 ? blob : undefined;
    },
    10_000,
    `blob ${blobId} to be purged`,
  );
}

// ---------------------------------------------------------------------------
// gRPC with grpc-js

export interface GrpcClients {
  readonly transfer: grpc.Client;
  readonly storage: grpc.Client;
  close(): void;
}

export function grpcClients(platform: Platform): GrpcClients {
  const transfer = new TransferClient(platform.address, grpc.credentials.createInsecure());
  const storage = new StorageClient(platform.address, grpc.credentials.createInsecure());
  return {
    transfer,
    storage,
    close: () => {
      transfer.close();
      storage.close();
    },
  };
}

/** A signed unary call of the transfer or storage service over grpc-js. */
export function grpcCall(
  clients: GrpcClients,
  method: string,
  request: object,
  signer: Signer,
  requestId?: string,
): Promise<UnaryOutcome> {
  const onStorage = Object.hasOwn(StorageClient.service, method);
  const Client = onStorage ? StorageClient : TransferClient;
  const metadata = signedMetadata(Client, method, request, signer);
  if (requestId !== undefined) metadata.set(REQUEST_ID_HEADER, requestId);
  const name = method[0]!.toLowerCase() + method.slice(1);
  return callUnary(onStorage ? clients.storage : clients.transfer, name, request, metadata);
}

/** Asserts a successful grpc-js answer and returns it. */
export function grpcOk(outcome: UnaryOutcome, what = ''): Json {
  expect(outcome.error, `${what}: ${outcome.error?.message}`).toBeUndefined();
  return outcome.response;
}

/** The code name and ErrorInfo reason (or INVALID_ARGUMENT with the violated fields) of a grpc-js error. */
export function grpcRefusal(error: grpc.ServiceError | undefined): {
  code: string;
  reason: string;
  metadata: Record<string, string>;
  violations: Record<string, string>;
} {
  expect(error, 'the call failed').toBeDefined();
  const code = grpc.status[error!.code]!;
  const [raw] = error!.metadata.get('grpc-status-details-bin');
  if (!Buffer.isBuffer(raw)) return { code, reason: '', metadata: {}, violations: {} };
  const details = decodeRpcStatus(raw).details;
  const info = details.find((d) => d.typeUrl.endsWith(`/${ErrorInfoSchema.typeName}`));
  const bad = details.find((d) => d.typeUrl.endsWith(`/${BadRequestSchema.typeName}`));
  const violations: Record<string, string> = {};
  if (bad !== undefined) {
    for (const v of fromBinary(BadRequestSchema, bad.value).fieldViolations) violations[v.field] = v.reason;
  }
  if (info !== undefined) {
    const decoded = fromBinary(ErrorInfoSchema, info.value);
    return { code, reason: decoded.reason, metadata: decoded.metadata, violations };
  }
  return { code, reason: bad === undefined ? '' : 'INVALID_ARGUMENT', metadata: {}, violations };
}

/** Metadata of a streamed upload: signed with STREAMING-UNSIGNED-PAYLOAD (docs/auth.md). */
export function uploadMetadata(signer: Signer): grpc.Metadata {
  const headers = signRequest({
    method: 'POST',
    url: `/${STORAGE}/Upload`,
    body: UNSIGNED_STREAM,
    ...signer,
  });
  const metadata = new grpc.Metadata();
  for (const [name, value] of Object.entries(headers)) metadata.set(name, value);
  return metadata;
}

/**
 * StorageService/Upload over grpc-js through the gateway: the header, then
 * the chunks, then the client closes its side and reads the one answer.
 */
export function uploadStream(
  clients: GrpcClients,
  signer: Signer,
  header: { blobId: string; uploadToken: string; offset: number },
  chunks: readonly Buffer[],
): Promise<UnaryOutcome> {
  return new Promise((resolve) => {
    const stream = (
      clients.storage as unknown as {
        upload(
          metadata: grpc.Metadata,
          options: grpc.CallOptions,
          callback: (error: grpc.ServiceError | null, response: Json) => void,
        ): grpc.ClientWritableStream<Json>;
      }
    ).upload(uploadMetadata(signer), { deadline: Date.now() + 20_000 }, (error, response) =>
      resolve({ response, error: error ?? undefined }),
    );
    stream.on('error', () => undefined);
    stream.write({ header: { ...header, offset: String(header.offset) } });
    for (const chunk of chunks) stream.write({ chunk });
    stream.end();
  });
}

/** Cuts `content` into chunks of `size` bytes. */
export function chunksOf(content: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < content.length; at += size) out.push(content.subarray(at, at + size));
  return out;
}

export interface Downloaded {
  /** The header message, first of the stream. */
  readonly header: Json | undefined;
  readonly bytes: Buffer;
  /** How many messages came: the header and the chunks. */
  readonly messages: number;
  readonly error: grpc.ServiceError | undefined;
}

/** StorageService/Download over grpc-js through the gateway, signed like any unary request. */
export function downloadStream(
  clients: GrpcClients,
  signer: Signer,
  request: { blobId: string; downloadToken: string; offset?: number; limit?: number },
): Promise<Downloaded> {
  const message = {
    blobId: request.blobId,
    downloadToken: request.downloadToken,
    offset: String(request.offset ?? 0),
    limit: String(request.limit ?? 0),
  };
  const metadata = signedMetadata(StorageClient, 'Download', message, signer);
  return new Promise((resolve) => {
    const stream = (
      clients.storage as unknown as {
        download(
          request: object,
          metadata: grpc.Metadata,
          options: grpc.CallOptions,
        ): grpc.ClientReadableStream<Json>;
      }
    ).download(message, metadata, { deadline: Date.now() + 20_000 });
    let header: Json;
    let messages = 0;
    const pieces: Buffer[] = [];
    stream.on('data', (m: Json) => {
      messages++;
      if (m.part === 'header') header = m.header;
      else pieces.push(Buffer.from(m.chunk));
    });
    stream.on('error', (error: grpc.ServiceError) =>
      resolve({ header, bytes: Buffer.concat(pieces), messages, error }),
    );
    stream.on('end', () => resolve({ header, bytes: Buffer.concat(pieces), messages, error: undefined }));
  });
}

// ---------------------------------------------------------------------------
// The audit stream

export interface AuditTrail {
  /** The events of one request; waits for at least one, since they are published after the answer. */
  eventsOf(requestId: string, atLeast?: number): Promise<AuditEvent[]>;
  stop(): Promise<void>;
}

/** Every audit event of the mesh, from every component (gateway and services). */
export async function followAudit(platform: Platform): Promise<AuditTrail> {
  const events: AuditEvent[] = [];
  const subscription: Subscription = await platform.mesh.bus.consume(
    { stream: auditStream(platform.busPrefix).name, durable: uniqueName('e2e_transfers_audit') },
    async (msg) => {
      events.push(fromBinary(AuditEventSchema, msg.data));
    },
  );
  return {
    async eventsOf(requestId, atLeast = 1) {
      const matching = () => events.filter((e) => e.requestId === requestId);
      await until(() => matching().length >= atLeast, 5_000, `an audit event for request ${requestId}`);
      // Give a second event of the same request the chance to show up, so "exactly one" means it.
      await sleep(100);
      return matching();
    },
    stop: () => subscription.stop(),
  };
}

// ---------------------------------------------------------------------------
// DeliveryOffered events, read straight from JetStream

export interface OfferFollower {
  readonly offers: DeliveryOffered[];
  stop(): Promise<void>;
}

/**
 * An ordered consumer on the transfer stream, filtered to the offers of one
 * destination app (`<prefix>.transfer.offered.<appId>`), from the start of the stream, on the
 * shared NATS unless `natsUrl` names another.
 */
export async function followOffers(
  busPrefix: string,
  appId: string,
  natsUrl = TEST_NATS_URL,
): Promise<OfferFollower> {
  const nc: NatsConnection = await connect({ servers: natsUrl });
  const js = jetstream(nc);
  const consumer = await js.consumers.get(`${busPrefix}_TRANSFER`, {
    filter_subjects: `${busPrefix}.transfer.offered.${appId}`,
  });
  const messages = await consumer.consume();
  const offers: DeliveryOffered[] = [];
  const done = (async () => {
    for await (const m of messages) offers.push(fromBinary(DeliveryOfferedSchema, m.data));
  })();
  return {
    offers,
    async stop() {
      await messages.close();
      await done.catch(() => undefined);
      await nc.close();
    },
  };
}
