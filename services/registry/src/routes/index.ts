import type { ConnectRouter } from '@connectrpc/connect';
import { RegistryService } from '#gen/lgsp/registry/v1/registry_service_pb.js';
import type { RegistryContext } from '../context.js';
import { appRoutes } from './apps.js';
import { grantRoutes } from './grants.js';
import { routingRoutes } from './routing.js';
import { unitRoutes } from './units.js';
import { zoneRoutes } from './zones.js';

/** Every RPC of RegistryService, one file per resource. */
export function registryRoutes(ctx: RegistryContext): (router: ConnectRouter) => void {
  return (router) => {
    router.service(RegistryService, {
      ...unitRoutes(ctx),
      ...appRoutes(ctx),
      ...grantRoutes(ctx),
      ...zoneRoutes(ctx),
      ...routingRoutes(ctx),
    });
  };
}
