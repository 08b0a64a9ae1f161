/**
 * The gateway: the single public entry point. One port serves every public
 * RPC as gRPC (HTTP/2), gRPC-Web and Connect JSON (HTTP/1.1 and HTTP/2), plus
 * /healthz, /readyz and /metrics.
 */
import { createContextValues } from '@connectrpc/connect';
import { Health } from '#gen/grpc/health/v1/health_pb.js';
import { isEntryPoint, runUntilSignal } from '#lib/lifecycle.js';
import { createLogger, type Logger } from '#lib/logger.js';
import { createHealthMonitor, type HealthMonitor } from '#lib/rpc/health.js';
import { startRpcServer } from '#lib/rpc/server.js';
import { initTelemetry, metricsRoute, rpcTelemetryInterceptor } from '#lib/telemetry.js';
import { authenticationInterceptor } from './authenticate.js';
import { type GatewayConfig, loadGatewayConfig } from './config.js';
import { closeGatewayContext, createGatewayContext, upstreamChecks } from './context.js';
import { gatewayRoutes } from './routes/index.js';

export interface RunningGateway {
  readonly url: string;
  readonly port: number;
  readonly health: HealthMonitor;
  close(): Promise<void>;
}

export async function startGateway(config: GatewayConfig, logger?: Logger): Promise<RunningGateway> {
  const log = (logger ?? createLogger({ level: config.logLevel })).child({ service: 'gateway' });
  initTelemetry('gateway');
  const ctx = createGatewayContext(config, log);
  const health = createHealthMonitor(upstreamChecks(ctx));
  const routes = gatewayRoutes(ctx);
  const server = await startRpcServer({
    host: config.host,
    port: config.port,
    logger: log,
    domain: 'gateway.lgsp',
    readMaxBytes: config.readMaxBytes,
    rejectUnknownJsonFields: true,
    // Authentication runs outermost so that a rejected credential is counted and traced too.
    interceptors: [rpcTelemetryInterceptor('gateway'), authenticationInterceptor(config.bootstrapToken)],
    // A public client cannot set the internal caller entry: context starts empty.
    contextValues: () => createContextValues(),
    routes: (router) => {
      router.service(Health, health.grpc);
      routes(router);
    },
    httpRoutes: { ...health.httpRoutes, '/metrics': metricsRoute },
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
        closeGatewayContext(ctx);
      })();
      return closing;
    },
  };
}

if (isEntryPoint(import.meta.url)) {
  const config = loadGatewayConfig();
  runUntilSignal(() => startGateway(config), createLogger({ level: config.logLevel }));
}
