import { create } from '@bufbuild/protobuf';
import { type Client, createClient } from '@connectrpc/connect';
import { Health, HealthCheckResponse_ServingStatus } from '#gen/grpc/health/v1/health_pb.js';
import { AuthService } from '#gen/lgsp/auth/v1/auth_service_pb.js';
import { CallerKind, CallerSchema } from '#gen/lgsp/common/v1/common_pb.js';
import { type AuditRecorder, auditStream, createAuditRecorder } from '#lib/audit.js';
import { type NonceStore, openNonceStore } from '#lib/auth/nonces.js';
import type { Bus, Subscription } from '#lib/bus/bus.js';
import { subjectOf } from '#lib/infra.js';
import type { Logger } from '#lib/logger.js';
import { CALLER_HEADER, encodeCaller } from '#lib/rpc/caller.js';
import { createGrpcTransport, type GrpcTransport } from '#lib/rpc/grpc-transport.js';
import { KeyCache } from './auth/key-cache.js';
import { startUsageRecorder, type UsageRecorder } from './auth/usage.js';
import type { GatewayConfig, Upstreams } from './config.js';

export interface GatewayContext {
  readonly config: GatewayConfig;
  readonly logger: Logger;
  readonly bus: Bus;
  readonly upstreams: Readonly<Record<keyof Upstreams, GrpcTransport>>;
  readonly auth: Client<typeof AuthService>;
  /** Headers that make the gateway's own calls (key lookups) those of a platform service. */
  readonly serviceHeaders: Headers;
  readonly keys: KeyCache;
  readonly nonces: NonceStore;
  readonly audit: AuditRecorder;
  readonly usage: UsageRecorder;
  close(): Promise<void>;
}

export async function createGatewayContext(
  config: GatewayConfig,
  logger: Logger,
  bus: Bus,
): Promise<GatewayContext> {
  const upstreams = Object.fromEntries(
    Object.entries(config.upstreams).map(([name, address]) => [name, createGrpcTransport({ address })]),
  ) as Record<keyof Upstreams, GrpcTransport>;
  const serviceHeaders = new Headers({
    [CALLER_HEADER]: encodeCaller(
      create(CallerSchema, { kind: CallerKind.SERVICE, subject: 'service:gateway' }),
    ),
  });
  const auth = createClient(AuthService, upstreams.auth);
  const keys = new KeyCache(auth, serviceHeaders);
  await bus.ensureStream(auditStream(config.busPrefix));
  const nonces = await openNonceStore(bus, config.busPrefix, config.maxClockSkewMs);
  // A revoked or rotated key must stop working on every replica within a second.
  const revocations: Subscription = await bus.listen(
    subjectOf(config.busPrefix, 'auth', 'revoked'),
    (_subject, data) => {
      keys.invalidate(Buffer.from(data).toString('utf8'));
    },
  );
  // Revocations broadcast while the connection was down were missed: forget every key.
  const forgetOnReconnect = bus.onReconnect(() => {
    logger.info('bus reconnected: cached key material dropped');
    keys.clear();
  });
  const usage = startUsageRecorder(bus, config.busPrefix, logger);
  return {
    config,
    logger,
    bus,
    upstreams,
    auth,
    serviceHeaders,
    keys,
    nonces,
    audit: createAuditRecorder(bus, config.busPrefix, 'gateway', logger),
    usage,
    close: async () => {
      forgetOnReconnect();
      await revocations.stop();
      await usage.stop();
      for (const transport of Object.values(upstreams)) transport.close();
    },
  };
}

/** Readiness checks: every upstream answers its health check with SERVING, and the bus answers. */
export function readinessChecks(ctx: GatewayContext): Record<string, () => Promise<void>> {
  const checks: Record<string, () => Promise<void>> = { bus: () => ctx.bus.ping() };
  for (const [name, transport] of Object.entries(ctx.upstreams)) {
    const health = createClient(Health, transport);
    checks[name] = async () => {
      const { status } = await health.check({}, { timeoutMs: 1_500 });
      if (status !== HealthCheckResponse_ServingStatus.SERVING) throw new Error(`${name} is not serving`);
    };
  }
  return checks;
}
