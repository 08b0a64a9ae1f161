import type { ConnectRouter } from '@connectrpc/connect';
import { AuthService } from '#gen/lgsp/auth/v1/auth_service_pb.js';
import { NotificationService } from '#gen/lgsp/notification/v1/notification_service_pb.js';
import { RegistryService } from '#gen/lgsp/registry/v1/registry_service_pb.js';
import { SsoService } from '#gen/lgsp/sso/v1/sso_service_pb.js';
import { StorageService } from '#gen/lgsp/storage/v1/storage_service_pb.js';
import { TransferService } from '#gen/lgsp/transfer/v1/transfer_service_pb.js';
import type { GatewayContext } from '../context.js';
import { proxyService } from './proxy.js';

/** Every service the gateway serves. */
export const GATEWAY_SERVICES = [
  RegistryService,
  AuthService,
  TransferService,
  StorageService,
  NotificationService,
  SsoService,
] as const;

/**
 * The public API: every service, each forwarded to its upstream. Internal RPCs
 * are routed too but refused by their access level before they leave the gateway.
 */
export function gatewayRoutes(ctx: GatewayContext): (router: ConnectRouter) => void {
  const { upstreams } = ctx;
  const timeout = ctx.config.defaultTimeoutMs;
  return (router) => {
    proxyService(router, RegistryService, upstreams.registry, timeout);
    proxyService(router, AuthService, upstreams.auth, timeout);
    proxyService(router, TransferService, upstreams.transfer, timeout);
    proxyService(router, StorageService, upstreams.storage, timeout);
    proxyService(router, NotificationService, upstreams.notification, timeout);
    proxyService(router, SsoService, upstreams.sso, timeout);
  };
}
