import { createClient } from '@connectrpc/connect';
import { Health } from '#gen/grpc/health/v1/health_pb.js';
import type { Logger } from '#lib/logger.js';
import { createGrpcTransport, type GrpcTransport } from '#lib/rpc/grpc-transport.js';
import type { GatewayConfig, Upstreams } from './config.js';

export interface GatewayContext {
  readonly config: GatewayConfig;
  readonly logger: Logger;
  readonly upstreams: Readonly<Record<keyof Upstreams, GrpcTransport>>;
}

export function createGatewayContext(config: GatewayConfig, logger: Logger): GatewayContext {
  return {
    config,
    logger,
    upstreams: { registry: createGrpcTransport({ address: config.upstreams.registry }) },
  };
}

/** Readiness checks: every upstream answers its health check with SERVING. */
export function upstreamChecks(ctx: GatewayContext): Record<string, () => Promise<void>> {
  return Object.fromEntries(
    Object.entries(ctx.upstreams).map(([name, transport]) => {
      const health = createClient(Health, transport);
      return [
        name,
        async () => {
          const { status } = await health.check({}, { timeoutMs: 1_500 });
          if (status !== 1) throw new Error(`${name} is not serving`);
        },
      ];
    }),
  );
}

export function closeGatewayContext(ctx: GatewayContext): void {
  for (const transport of Object.values(ctx.upstreams)) transport.close();
}
