/**
 * Starts a registry (seeded with the demo unit tree) and an auth service that
 * asks it, against the real Postgres and NATS, in schemas and a bus prefix of
 * their own. Helpers register apps and grants, and build signed requests.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { createClient } from '@connectrpc/connect';
import { AuthService } from '#gen/lgsp/auth/v1/auth_service_pb.js';
import {
  SignatureAlgorithm,
  type SignedRequest,
  SignedRequestSchema,
} from '#gen/lgsp/auth/v1/resources_pb.js';
import { CallerKind, CallerSchema } from '#gen/lgsp/common/v1/common_pb.js';
import { RegistryService } from '#gen/lgsp/registry/v1/registry_service_pb.js';
import { AppKind, GrantAction } from '#gen/lgsp/registry/v1/resources_pb.js';
import {
  canonicalQuery,
  parseTimestamp,
  type SigningAlgorithm,
  type SigningKey,
  signRequest,
} from '#lib/auth/signing.js';
import { silentLogger } from '#lib/logger.js';
import { UNIT_ADMIN_ROLE } from '#lib/rpc/access.js';
import { CALLER_HEADER, encodeCaller } from '#lib/rpc/caller.js';
import { createGrpcTransport } from '#lib/rpc/grpc-transport.js';
import { type RunningService, startService } from '#lib/service.js';
import { asAdmin } from '../../../test/support/callers.js';
import { deleteStreams, dropSchemas } from '../../../test/support/cleanup.js';
import { TEST_DATABASE_URL, TEST_NATS_URL, uniqueName } from '../../../test/support/env.js';
import type { RegistryConfig } from '../../registry/src/config.js';
import { seedUnitTree, type UnitTreeFile } from '../../registry/src/db/seed.js';
import { registryModule } from '../../registry/src/main.js';
import type { AuthConfig } from '../src/config.js';
import type { AuthContext } from '../src/context.js';
import { authModule } from '../src/main.js';

export { asAdmin, asApp, asService } from '../../../test/support/callers.js';

const demoTree = JSON.parse(
  readFileSync(new URL('../../../deploy/seed/units-example.json', import.meta.url), 'utf8'),
) as UnitTreeFile;

const shared = () => (process.env['TEST_LOG_LEVEL'] ? {} : { logger: silentLogger() });

export type TestMesh = Awaited<ReturnType<typeof startTestAuth>>;

export async function startTestAuth(overrides: Partial<AuthConfig> = {}) {
  const busPrefix = uniqueName('T').toUpperCase();
  const schemas = [uniqueName('registry'), uniqueName('auth')] as const;
  const base = {
    host: '127.0.0.1',
    port: 0,
    logLevel: process.env['TEST_LOG_LEVEL'] ?? 'silent',
    databaseUrl: TEST_DATABASE_URL,
    dataDir: '',
    natsUrl: TEST_NATS_URL,
    busPrefix,
    readMaxBytes: 1024 * 1024,
  };
  const registryConfig: RegistryConfig = { ...base, service: 'registry', dbSchema: schemas[0] };
  const registry = await startService(registryModule, registryConfig, shared());
  await seedUnitTree(registry.context.db, busPrefix, demoTree, {
    localZone: { code: 'H26', name: 'LGSP H26' },
  });

  const config: AuthConfig = {
    ...base,
    service: 'auth',
    dbSchema: schemas[1],
    masterKey: randomBytes(32),
    allowHmacSha1: true,
    maxClockSkewSeconds: 300,
    sessionTokenTtlSeconds: 300,
    tokenIssuer: 'lgsp',
    registryAddr: new URL(registry.url).host,
    ...overrides,
  };
  const auth = await startService(authModule, config, shared());
  const extra: RunningService<AuthContext>[] = [];
  const transports = [
    createGrpcTransport({ address: new URL(registry.url).host }),
    createGrpcTransport({ address: new URL(auth.url).host }),
  ] as const;

  return {
    config,
    registry,
    auth,
    registryClient: createClient(RegistryService, transports[0]),
    client: createClient(AuthService, transports[1]),
    /** Another replica of the auth service on the same schema and bus, configured differently. */
    async replica(changes: Partial<AuthConfig>) {
      const running = await startService(authModule, { ...config, ...changes }, shared());
      extra.push(running);
      const transport = createGrpcTransport({ address: new URL(running.url).host });
      return { running, client: createClient(AuthService, transport), close: () => transport.close() };
    },
    async close() {
      for (const t of transports) t.close();
      for (const r of extra) await r.close();
      await auth.close();
      await registry.close();
      await dropSchemas(schemas);
      await deleteStreams(busPrefix);
      await deleteStreams(`KV_${busPrefix}`);
    },
  };
}

/** Registers an app of `unitCode` and returns its id. */
export async function registerApp(mesh: TestMesh, unitCode: string, name: string): Promise<string> {
  const res = await mesh.registryClient.registerApp(
    { unitCode, name, kind: AppKind.DATA_SERVICE },
    asAdmin(),
  );
  return res.app!.id;
}

/** Lets `source` call `destination`; returns the grant id. */
export async function grantCall(mesh: TestMesh, source: string, destination: string): Promise<string> {
  const res = await mesh.registryClient.createGrant(
    {
      subject: { party: { case: 'appId', value: source } },
      object: { object: { case: 'appId', value: destination } },
      action: GrantAction.CALL,
    },
    asAdmin(),
  );
  return res.grant!.id;
}

/** A unit administrator of `unitCode`, as the gateway passes it on. */
export function asUnitAdmin(unitCode: string): { headers: Record<string, string> } {
  const caller = create(CallerSchema, {
    kind: CallerKind.OPERATOR,
    unitCode,
    subject: `operator:unit-admin-${unitCode}`,
    roles: [UNIT_ADMIN_ROLE],
  });
  return { headers: { [CALLER_HEADER]: encodeCaller(caller) } };
}

const ALGORITHMS: Record<SigningAlgorithm, SignatureAlgorithm> = {
  'HMAC-SHA256': SignatureAlgorithm.HMAC_SHA256,
  'HMAC-SHA1': SignatureAlgorithm.HMAC_SHA1,
  'RSA-SHA256': SignatureAlgorithm.RSA_SHA256,
};

export interface SignInput {
  readonly accessKeyId: string;
  readonly key: SigningKey;
  readonly algorithm?: SigningAlgorithm;
  readonly method?: string;
  /** Path and optional query. */
  readonly url?: string;
  readonly body?: string;
  readonly now?: Date;
  readonly nonce?: string;
  readonly sessionToken?: string;
}

/** A request signed as a client would sign it, as the receiver reports it in a SignedRequest. */
export function signed(input: SignInput): SignedRequest {
  const url = input.url ?? '/api/citizens/lookup?id=001&full=true';
  const body = input.body ?? '{"citizen_id":"001203004567"}';
  const headers = signRequest({
    method: input.method ?? 'POST',
    url,
    body,
    accessKeyId: input.accessKeyId,
    key: input.key,
    ...(input.algorithm === undefined ? {} : { algorithm: input.algorithm }),
    ...(input.now === undefined ? {} : { now: input.now }),
    ...(input.nonce === undefined ? {} : { nonce: input.nonce }),
    ...(input.sessionToken === undefined ? {} : { sessionToken: input.sessionToken }),
  });
  const queryAt = url.indexOf('?');
  return create(SignedRequestSchema, {
    method: input.method ?? 'POST',
    path: queryAt === -1 ? url : url.slice(0, queryAt),
    canonicalQuery: queryAt === -1 ? '' : canonicalQuery(url.slice(queryAt + 1)),
    signTime: timestampFromDate(parseTimestamp(headers['lgsp-timestamp']!)!),
    nonce: headers['lgsp-nonce']!,
    accessKeyId: input.accessKeyId,
    algorithm: ALGORITHMS[headers['lgsp-algorithm'] as SigningAlgorithm],
    contentSha256: Buffer.from(headers['lgsp-content-sha256']!, 'hex'),
    signature: Buffer.from(headers['lgsp-signature']!, 'base64'),
    sessionToken: input.sessionToken ?? '',
  });
}

export function hmacKey(secret: string): SigningKey {
  return { kind: 'hmac', secret };
}
