import type { ConnectRouter } from '@connectrpc/connect';
import { AuthService } from '#gen/lgsp/auth/v1/auth_service_pb.js';
import type { HttpRoute } from '#lib/rpc/server.js';
import type { AuthContext } from '../context.js';
import { auditRoutes } from './audit.js';
import { credentialRoutes } from './credentials.js';
import { JWKS_PATH, jwksRoute } from './jwks.js';
import { sessionRoutes } from './sessions.js';
import { timeRoutes } from './time.js';
import { verificationRoutes } from './verification.js';

/** Every RPC of AuthService, one file per resource. */
export function authRoutes(ctx: AuthContext): (router: ConnectRouter) => void {
  return (router) => {
    router.service(AuthService, {
      ...timeRoutes(ctx),
      ...credentialRoutes(ctx),
      ...verificationRoutes(ctx),
      ...sessionRoutes(ctx),
      ...auditRoutes(ctx),
    });
  };
}

/** Plain HTTP endpoints next to the RPCs. */
export function authHttpRoutes(ctx: AuthContext): Readonly<Record<string, HttpRoute>> {
  return { [JWKS_PATH]: jwksRoute(ctx) };
}
