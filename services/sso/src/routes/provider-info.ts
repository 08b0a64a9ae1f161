/** GetProviderInfo: the provider's URLs (Art. 11), public. */
import { create } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import { type ProviderEndpoints, ProviderEndpointsSchema } from '#gen/lgsp/sso/v1/resources_pb.js';
import type { SsoService } from '#gen/lgsp/sso/v1/sso_service_pb.js';
import type { SsoContext } from '../context.js';
import { SCOPE_CLAIMS, SCOPES } from '../oidc/provider.js';

/** The URLs an application configures, under the provider's public issuer. */
export function endpointsOf(ctx: SsoContext): ProviderEndpoints {
  const issuer = ctx.oidc.issuer;
  return create(ProviderEndpointsSchema, {
    issuer,
    discoveryUrl: `${issuer}/.well-known/openid-configuration`,
    authorizationEndpoint: `${issuer}/auth`,
    tokenEndpoint: `${issuer}/token`,
    endSessionEndpoint: `${issuer}/session/end`,
    userinfoEndpoint: `${issuer}/me`,
    jwksUri: `${issuer}/jwks`,
    introspectionEndpoint: `${issuer}/token/introspection`,
    revocationEndpoint: `${issuer}/token/revocation`,
  });
}

export function providerInfoRoutes(ctx: SsoContext): Partial<ServiceImpl<typeof SsoService>> {
  return {
    async getProviderInfo() {
      return {
        endpoints: endpointsOf(ctx),
        scopesSupported: SCOPES,
        claimsSupported: [...new Set(Object.values(SCOPE_CLAIMS).flat())],
      };
    },
  };
}
