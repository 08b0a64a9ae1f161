/**
 * The gateway: the single public entry point. One port (TLS optional) serves
 * every public RPC as gRPC (HTTP/2), gRPC-Web and Connect JSON (HTTP/1.1 and
 * HTTP/2), verifies signed requests and access levels, limits each app's rate
 * and streams, answers browsers' CORS, and serves /healthz, /readyz, /metrics
 * and the session-token key set.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { create } from '@bufbuild/protobuf';
import { createContextValues } from '@connectrpc/connect';
import { Health } from '#gen/grpc/health/v1/health_pb.js';
import { CallerKind, CallerSchema } from '#gen/lgsp/common/v1/common_pb.js';
import { AuditOutcome, type AuditRecorder } from '#lib/audit.js';
import { SIGNATURE_HEADERS } from '#lib/auth/signing.js';
import type { Bus } from '#lib/bus/bus.js';
import { connectNatsBus } from '#lib/bus/nats.js';
import { ConfigError } from '#lib/config.js';
import { isEntryPoint, runUntilSignal } from '#lib/lifecycle.js';
import { createLogger, type Logger } from '#lib/logger.js';
import { REQUEST_ID_HEADER } from '#lib/rpc/caller.js';
import { createHealthMonitor, type HealthMonitor } from '#lib/rpc/health.js';
import { headerValue, startRpcServer } from '#lib/rpc/server.js';
import { initTelemetry, metricsRoute, rpcTelemetryInterceptor } from '#lib/telemetry.js';
import { auditCallsInterceptor } from './auth/audit-calls.js';
import { authenticationInterceptor, needsBodyDigest } from './auth/authenticate.js';
import { type GatewayConfig, loadGatewayConfig } from './config.js';
import { createGatewayContext, readinessChecks } from './context.js';
import { limitsInterceptor } from './limits/interceptor.js';
import { TokenBuckets } from './limits/token-buckets.js';
import { bodyCheck } from './routes/body-check.js';
import { GATEWAY_SERVICES, gatewayRoutes } from './routes/index.js';
import { jwksRoute } from './routes/jwks.js';
import { openApiRoutes } from './routes/openapi.js';
import { ssoProxyRoutes } from './routes/sso-proxy.js';

export interface RunningGateway {
  readonly url: string;
  readonly port: number;
  readonly health: HealthMonitor;
  close(): Promise<void>;
}

export interface GatewayDependencies {
  readonly logger?: Logger;
  /** The bus shared with the services in the embedded mode; otherwise opened from NATS_URL. */
  readonly bus?: Bus;
}

export async function startGateway(
  config: GatewayConfig,
  deps: GatewayDependencies = {},
): Promise<RunningGateway> {
  const log = (deps.logger ?? createLogger({ level: config.logLevel })).child({ service: 'gateway' });
  initTelemetry('gateway');
  const bus = deps.bus ?? (await connectBus(config, log));
  const ctx = await createGatewayContext(config, log, bus);
  const health = createHealthMonitor(readinessChecks(ctx));
  const routes = gatewayRoutes(ctx);
  const server = await startRpcServer({
    host: config.host,
    port: config.port,
    logger: log,
    domain: 'gateway.lgsp',
    readMaxBytes: config.readMaxBytes,
    rejectUnknownJsonFields: true,
    interceptors: [rpcTelemetryInterceptor('gateway')],
    guards: [
      authenticationInterceptor({
        keys: ctx.keys,
        nonces: ctx.nonces,
        policy: { maxSkewMs: config.maxClockSkewMs, allowHmacSha1: config.allowHmacSha1 },
        audit: ctx.audit,
        usage: ctx.usage,
      }),
      auditCallsInterceptor(ctx.audit),
      limitsInterceptor({
        buckets: new TokenBuckets(config.rateLimit),
        maxStreamsPerApp: config.maxStreamsPerApp,
      }),
    ],
    tls: config.tls,
    cors: {
      origins: config.corsOrigins,
      extraHeaders: [...Object.values(SIGNATURE_HEADERS), REQUEST_ID_HEADER],
      extraExposed: ['retry-after', REQUEST_ID_HEADER],
    },
    digestBody: needsBodyDigest,
    checkBody: bodyCheck(GATEWAY_SERVICES),
    onBodyRefused: (headers, path, message) => recordUndecodable(ctx.audit, headers, path, message),
    // A public client cannot set the internal caller entry: context starts empty.
    contextValues: () => createContextValues(),
    routes: (router) => {
      router.service(Health, health.grpc);
      routes(router);
    },
    httpRoutes: {
      ...health.httpRoutes,
      '/metrics': metricsRoute,
      '/.well-known/jwks.json': jwksRoute(config.upstreams.auth),
      ...openApiRoutes(),
    },
    prefixRoutes: ssoProxyRoutes(config.upstreams.sso, config.tls !== undefined),
  });
  log.info({ url: server.url }, 'gateway listening');
  let closing: Promise<void> | undefined;
  return {
    url: server.url,
    port: server.port,
    health,
    close: () => {
      closing ??= (async () => {
        health.drain();
        await server.close();
        await ctx.close();
        if (deps.bus === undefined) await bus.close();
      })();
      return closing;
    },
  };
}

/**
 * A signed request whose body does not decode never reaches authentication:
 * its refusal is recorded here, with the request id the client sent and the
 * key it claims (unverified).
 */
function recordUndecodable(
  audit: AuditRecorder,
  headers: IncomingHttpHeaders,
  path: string,
  message: string,
): void {
  const offered = headerValue(headers[REQUEST_ID_HEADER]);
  const requestId = offered !== undefined && /^[A-Za-z0-9._-]{1,128}$/.test(offered) ? offered : randomUUID();
  const keyId = headerValue(headers[SIGNATURE_HEADERS.keyId]) ?? '';
  audit.record({
    actor: create(CallerSchema, { kind: CallerKind.ANONYMOUS, requestId }),
    action: path.slice(1),
    outcome: AuditOutcome.REFUSED,
    reason: 'BODY_UNDECODABLE',
    message: `${message} (signed with key "${keyId.slice(0, 64)}", not verified)`.slice(0, 1000),
  });
}

/**
 * A gateway of its own process must share the services' bus: revocations,
 * the replicas' nonce store and the audit stream travel over it. An
 * in-process bus would let a revoked key work until its cache entry expired.
 */
async function connectBus(config: GatewayConfig, log: Logger): Promise<Bus> {
  if (config.natsUrl === undefined) {
    throw new ConfigError(
      'invalid configuration:\n  - NATS_URL is required: the gateway hears revocations and shares its nonce store over the bus',
    );
  }
  return connectNatsBus({
    servers: config.natsUrl,
    name: 'lgsp-gateway',
    logger: log,
    replicas: config.natsReplicas,
  });
}

if (isEntryPoint(import.meta.url)) {
  const config = loadGatewayConfig();
  runUntilSignal(() => startGateway(config), createLogger({ level: config.logLevel }));
}
