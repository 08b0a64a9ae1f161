/**
 * Enforces the access level every RPC declares in its proto
 * (`option (lgsp.common.v1.access) = ...`). The gateway checks it before
 * forwarding, and each service checks it again on arrival.
 */
import { type DescMethod, getOption } from '@bufbuild/protobuf';
import type { Interceptor } from '@connectrpc/connect';
import { AccessLevel, access } from '#gen/lgsp/common/v1/access_pb.js';
import { type Caller, CallerKind } from '#gen/lgsp/common/v1/common_pb.js';
import { PermissionDeniedError, UnauthenticatedError } from '../errors.js';
import { ADMIN_ROLE, callerKey } from './caller.js';

export const UNIT_ADMIN_ROLE = 'unit_admin';
const HEALTH_SERVICE = 'grpc.health.v1.Health';

/** The standard health protocol is for probes and declares no level of ours: always open. */
export function isProbe(serviceTypeName: string): boolean {
  return serviceTypeName === HEALTH_SERVICE;
}

export function accessLevelOf(method: DescMethod): AccessLevel {
  return getOption(method, access);
}

function isAuthenticated(caller: Caller): boolean {
  return caller.kind !== CallerKind.ANONYMOUS && caller.kind !== CallerKind.UNSPECIFIED;
}

/** Throws unless `caller` may call an RPC of `level`; the error says what is missing. */
export function assertAccess(caller: Caller, level: AccessLevel, rpc: string): void {
  const admin = caller.roles.includes(ADMIN_ROLE);
  const service = caller.kind === CallerKind.SERVICE;
  switch (level) {
    case AccessLevel.PUBLIC:
      return;
    case AccessLevel.APP:
      if (isAuthenticated(caller)) return;
      break;
    case AccessLevel.UNIT_ADMIN:
      if (admin || service || caller.roles.includes(UNIT_ADMIN_ROLE)) return;
      break;
    case AccessLevel.ADMIN:
      if (admin || service) return;
      break;
    case AccessLevel.INTERNAL:
      if (service) return;
      throw new PermissionDeniedError('INTERNAL_RPC', `${rpc} is internal to the platform`);
    default:
      throw new PermissionDeniedError(
        'NO_ACCESS_LEVEL',
        `${rpc} declares no access level and cannot be called`,
      );
  }
  if (!isAuthenticated(caller)) {
    throw new UnauthenticatedError('AUTHENTICATION_REQUIRED', `${rpc} needs a signed request`);
  }
  const needed = level === AccessLevel.ADMIN ? 'a province administrator' : 'a unit administrator';
  throw new PermissionDeniedError('ACCESS_LEVEL', `${rpc} may be called only by ${needed}`, {
    subject: caller.subject,
    required: AccessLevel[level],
  });
}

/** Service-side enforcement; runs inside the error interceptor so refusals get their details. */
export function accessInterceptor(): Interceptor {
  return (next) => async (req) => {
    if (isProbe(req.service.typeName)) return next(req);
    assertAccess(
      req.contextValues.get(callerKey),
      accessLevelOf(req.method),
      `${req.service.typeName}/${req.method.name}`,
    );
    return next(req);
  };
}
