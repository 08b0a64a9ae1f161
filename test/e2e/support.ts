/**
 * The end-to-end suites start the whole embedded mesh (six services and the
 * gateway in this process) against the real Postgres and NATS, in schemas and
 * streams of their own, with the demo unit tree loaded. They talk to the
 * gateway only, with clients the project did not generate: `@grpc/grpc-js`
 * with `@grpc/proto-loader`, and plain `fetch` with JSON.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { grpcFrame, type SigningKey, signRequest } from '#lib/auth/signing.js';
import { createLogger, silentLogger } from '#lib/logger.js';
import { type EmbeddedMesh, startEmbeddedMesh } from '../../embedded/mesh.js';
import { deleteStreams, dropSchemas } from '../support/cleanup.js';
import { TEST_DATABASE_URL, TEST_NATS_URL, uniqueName } from '../support/env.js';

/** Every service of the mesh owns a schema named `${schemaPrefix}${service}`. */
export const SERVICES = ['registry', 'auth', 'transfer', 'storage', 'notification', 'sso'] as const;

/** Small on purpose, so that the oversize test needs only a modest body. */
export const READ_MAX_BYTES = 64 * 1024;

export interface E2eMesh {
  readonly mesh: EmbeddedMesh;
  /** `http://127.0.0.1:<port>` of the gateway. */
  readonly url: string;
  /** `127.0.0.1:<port>` of the gateway, for grpc-js. */
  readonly address: string;
  /** The first administrator, created by the mesh at its first start. */
  readonly admin: Signer;
  close(): Promise<void>;
}

/** An access key and what signs with it. */
export interface Signer {
  readonly accessKeyId: string;
  readonly key: SigningKey;
}

export function hmacSigner(accessKeyId: string, secret: string): Signer {
  return { accessKeyId, key: { kind: 'hmac', secret } };
}

export async function startE2eMesh(): Promise<E2eMesh> {
  const schemaPrefix = `${uniqueName('e2e')}_`;
  const busPrefix = uniqueName('E2E').toUpperCase();
  const dataDir = mkdtempSync(join(tmpdir(), 'lgsp-e2e-'));
  const level = process.env['TEST_LOG_LEVEL'];
  const cleanup = async () => {
    await dropSchemas(SERVICES.map((service) => `${schemaPrefix}${service}`));
    await deleteStreams(busPrefix);
    rmSync(dataDir, { recursive: true, force: true });
  };
  let mesh: EmbeddedMesh;
  try {
    mesh = await startEmbeddedMesh({
      dataDir,
      gatewayPort: 0,
      databaseUrl: TEST_DATABASE_URL,
      nats: TEST_NATS_URL,
      busPrefix,
      schemaPrefix,
      seedDemo: true,
      logger: level === undefined ? silentLogger() : createLogger({ level }),
      readMaxBytes: READ_MAX_BYTES,
    });
  } catch (error) {
    await cleanup();
    throw error;
  }
  const firstAdmin = mesh.firstAdmin;
  if (firstAdmin === undefined) {
    await mesh.close().finally(cleanup);
    throw new Error('a fresh mesh must create its first administrator');
  }
  let closing: Promise<void> | undefined;
  return {
    mesh,
    url: mesh.gateway.url,
    address: new URL(mesh.gateway.url).host,
    admin: hmacSigner(firstAdmin.accessKeyId, firstAdmin.secret),
    close: () => {
      closing ??= mesh.close().finally(cleanup);
      return closing;
    },
  };
}

// ---------------------------------------------------------------------------
// Connect JSON over HTTP/1.1 with plain fetch

/** A Connect unary call as a legacy system would make it: POST, JSON in, JSON out. */
export interface JsonAnswer {
  readonly status: number;
  readonly contentType: string | null;
  readonly headers?: Headers;
  /** The parsed body; `undefined` when it is empty or not JSON. */
  // biome-ignore lint/suspicious/noExplicitAny: a test reads whatever JSON the gateway sent.
  readonly body: any;
}

export interface PostJsonOptions {
  readonly headers?: Record<string, string>;
  /** Send `body` as it is (a string), not JSON-encoded. */
  readonly raw?: boolean;
  /** The service's full name; default the registry. */
  readonly service?: string;
  /** Sign the request with this key (over the exact body bytes sent). */
  readonly signer?: Signer;
}

export async function postJson(
  baseUrl: string,
  method: string,
  body: unknown,
  options: PostJsonOptions = {},
): Promise<JsonAnswer> {
  const path = `/${options.service ?? 'lgsp.registry.v1.RegistryService'}/${method}`;
  const text = options.raw === true ? (body as string) : JSON.stringify(body);
  const signature =
    options.signer === undefined
      ? {}
      : signRequest({ method: 'POST', url: path, body: text, ...options.signer });
  const res = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...signature, ...options.headers },
    body: text,
    signal: AbortSignal.timeout(10_000),
  });
  const answer = await res.text();
  let parsed: unknown;
  try {
    parsed = answer === '' ? undefined : JSON.parse(answer);
  } catch {
    parsed = undefined;
  }
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    headers: res.headers,
    body: parsed,
  };
}

// ---------------------------------------------------------------------------
// gRPC with @grpc/grpc-js and @grpc/proto-loader

const PROTO_ROOT = fileURLToPath(new URL('../../proto', import.meta.url));

/**
 * Loads a service from the .proto sources, as any gRPC client in another
 * language would. `google/protobuf/timestamp.proto` needs no include path:
 * protobufjs (under proto-loader) resolves the well-known types (any,
 * duration, empty, field_mask, struct, timestamp, wrappers) to definitions it
 * bundles, before it looks at `includeDirs`.
 */
export function loadGrpcService(file: string, serviceName: string): grpc.ServiceClientConstructor {
  const definition = protoLoader.loadSync(file, {
    includeDirs: [PROTO_ROOT],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const loaded = grpc.loadPackageDefinition(definition);
  let node: unknown = loaded;
  for (const part of serviceName.split('.')) node = (node as Record<string, unknown>)[part];
  if (typeof node !== 'function') throw new Error(`${serviceName} is not in ${file}`);
  return node as grpc.ServiceClientConstructor;
}

export interface UnaryOutcome {
  // biome-ignore lint/suspicious/noExplicitAny: proto-loader messages are plain objects of no static type.
  readonly response: any;
  readonly error: grpc.ServiceError | undefined;
}

/** Calls a unary method of a grpc-js client, resolving with the answer or the error (never rejecting). */
export function callUnary(
  client: grpc.Client,
  method: string,
  request: object,
  metadata: grpc.Metadata = new grpc.Metadata(),
): Promise<UnaryOutcome> {
  const fn = (client as unknown as Record<string, unknown>)[method];
  if (typeof fn !== 'function') throw new Error(`no method ${method}`);
  return new Promise((resolve) => {
    fn.call(
      client,
      request,
      metadata,
      { deadline: Date.now() + 10_000 },
      (error: grpc.ServiceError | null, response: unknown) => {
        resolve({ response, error: error ?? undefined });
      },
    );
  });
}

/**
 * Metadata that signs one grpc-js call: the body a gRPC client sends for a
 * unary call is the request message in one uncompressed frame, and grpc-js
 * serializes the same object to the same bytes when it sends it.
 */
export function signedMetadata(
  Client: grpc.ServiceClientConstructor,
  method: string,
  request: object,
  signer: Signer,
  extra: Partial<Parameters<typeof signRequest>[0]> = {},
): grpc.Metadata {
  const definition = Object.entries(Client.service).find(
    ([name, def]) => name === method || def.originalName === method,
  )?.[1];
  if (definition === undefined) throw new Error(`no method ${method}`);
  const headers = signRequest({
    method: 'POST',
    url: definition.path,
    body: grpcFrame(definition.requestSerialize(request)),
    ...signer,
    ...extra,
  });
  const metadata = new grpc.Metadata();
  for (const [name, value] of Object.entries(headers)) metadata.set(name, value);
  return metadata;
}

/** `google.rpc.Status`, the payload of the `grpc-status-details-bin` trailer. */
export interface RpcStatus {
  readonly code: number;
  readonly message: string;
  /** `google.protobuf.Any` entries: type URL and the message bytes. */
  readonly details: ReadonlyArray<{ readonly typeUrl: string; readonly value: Uint8Array }>;
}

/**
 * Decodes `google.rpc.Status` straight from the wire format (code = 1,
 * message = 2, repeated Any details = 3; Any: type_url = 1, value = 2), so the
 * test depends on nothing the project generated for it.
 */
export function decodeRpcStatus(bytes: Uint8Array): RpcStatus {
  const reader = new BinaryReader(bytes);
  let code = 0;
  let message = '';
  const details: Array<{ typeUrl: string; value: Uint8Array }> = [];
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WireType.Varint) code = reader.int32();
    else if (field === 2 && wireType === WireType.LengthDelimited) message = reader.string();
    else if (field === 3 && wireType === WireType.LengthDelimited) {
      const any = new BinaryReader(reader.bytes());
      let typeUrl = '';
      let value: Uint8Array = new Uint8Array();
      while (any.pos < any.len) {
        const [f, w] = any.tag();
        if (f === 1 && w === WireType.LengthDelimited) typeUrl = any.string();
        else if (f === 2 && w === WireType.LengthDelimited) value = any.bytes();
        else any.skip(w);
      }
      details.push({ typeUrl, value });
    } else reader.skip(wireType);
  }
  return { code, message, details };
}
