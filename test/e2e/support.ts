/**
 * The end-to-end suites start the whole embedded mesh (six services and the
 * gateway in this process) against the real Postgres and NATS, in schemas and
 * streams of their own, with the demo unit tree loaded. They talk to the
 * gateway only, with clients the project did not generate: `@grpc/grpc-js`
 * with `@grpc/proto-loader`, and plain `fetch` with JSON.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
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
  readonly token: string;
  close(): Promise<void>;
}

export async function startE2eMesh(): Promise<E2eMesh> {
  const schemaPrefix = `${uniqueName('e2e')}_`;
  const busPrefix = uniqueName('E2E').toUpperCase();
  const dataDir = mkdtempSync(join(tmpdir(), 'lgsp-e2e-'));
  // 32 random bytes in base64url: 43 characters, above the gateway's 32-character minimum.
  const token = randomBytes(32).toString('base64url');
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
      bootstrapToken: token,
      readMaxBytes: READ_MAX_BYTES,
    });
  } catch (error) {
    await cleanup();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    mesh,
    url: mesh.gateway.url,
    address: new URL(mesh.gateway.url).host,
    token,
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
  /** The parsed body; `undefined` when it is empty or not JSON. */
  // biome-ignore lint/suspicious/noExplicitAny: a test reads whatever JSON the gateway sent.
  readonly body: any;
}

export async function postJson(
  baseUrl: string,
  method: string,
  body: unknown,
  init: { headers?: Record<string, string>; raw?: boolean } = {},
): Promise<JsonAnswer> {
  const res = await fetch(`${baseUrl}/lgsp.registry.v1.RegistryService/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...init.headers },
    body: init.raw === true ? (body as string) : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, contentType: res.headers.get('content-type'), body: parsed };
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

export function bearer(token: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${token}`);
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
