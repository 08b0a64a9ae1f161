import type { ConnectRouter } from '@connectrpc/connect';
import { RegistryService } from '#gen/lgsp/registry/v1/registry_service_pb.js';
import type { GatewayContext } from '../context.js';
import { proxyService } from './proxy.js';

/** The public API: every service a client may call, each forwarded to its upstream. */
export function gatewayRoutes(ctx: GatewayContext): (router: ConnectRouter) => void {
  return (router) => {
    proxyService(router, RegistryService, ctx.upstreams.registry, ctx.config.defaultTimeoutMs);
  };
}
