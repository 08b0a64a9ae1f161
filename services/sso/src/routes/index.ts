import type { ConnectRouter } from '@connectrpc/connect';
import { SsoService } from '#gen/lgsp/sso/v1/sso_service_pb.js';
import type { SsoContext } from '../context.js';
import { providerInfoRoutes } from './provider-info.js';
import { relyingPartyRoutes } from './relying-parties.js';
import { userRoutes } from './users.js';

/**
 * Every RPC of SsoService: the provider's URLs (provider-info.ts), relying
 * parties (relying-parties.ts), users and roles (users.ts). The OpenID
 * Connect protocol itself is served over HTTP (oidc/host.ts).
 */
export function ssoRoutes(ctx: SsoContext): (router: ConnectRouter) => void {
  return (router) => {
    router.service(SsoService, {
      ...providerInfoRoutes(ctx),
      ...relyingPartyRoutes(ctx),
      ...userRoutes(ctx),
    });
  };
}
