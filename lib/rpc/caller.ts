/**
 * The verified caller travels from the gateway to the services in one binary
 * metadata entry, and inside a service in a Connect context value. Services
 * trust the entry only because they listen on the internal network alone
 * (Kubernetes NetworkPolicies admit only the gateway and peer services).
 */
import { create, toBinary } from '@bufbuild/protobuf';
import {
  createContextKey,
  decodeBinaryHeader,
  encodeBinaryHeader,
  type HandlerContext,
} from '@connectrpc/connect';
import { type Caller, CallerKind, CallerSchema } from '#gen/lgsp/common/v1/common_pb.js';
import { PermissionDeniedError, UnauthenticatedError } from '../errors.js';

export const CALLER_HEADER = 'lgsp-caller-bin';
export const REQUEST_ID_HEADER = 'x-request-id';

export const ANONYMOUS: Caller = create(CallerSchema, { kind: CallerKind.ANONYMOUS });

export const callerKey = createContextKey<Caller>(ANONYMOUS, { description: 'verified caller' });

export function encodeCaller(caller: Caller): string {
  return encodeBinaryHeader(toBinary(CallerSchema, caller));
}

/** Reads the caller entry; a missing or unreadable entry means anonymous. */
export function decodeCaller(header: string | null | undefined): Caller {
  if (header === null || header === undefined || header === '') return ANONYMOUS;
  try {
    return decodeBinaryHeader(header, CallerSchema);
  } catch {
    return ANONYMOUS;
  }
}

export function callerOf(ctx: HandlerContext): Caller {
  return ctx.values.get(callerKey);
}

export const ADMIN_ROLE = 'admin';

/** Province administrators and operators. */
export function isAdmin(caller: Caller): boolean {
  return caller.roles.includes(ADMIN_ROLE);
}

/** Throws unless the caller is an administrator; anonymous callers are told to authenticate. */
export function requireAdmin(ctx: HandlerContext): Caller {
  const caller = callerOf(ctx);
  if (isAdmin(caller)) return caller;
  if (caller.kind === CallerKind.ANONYMOUS || caller.kind === CallerKind.UNSPECIFIED) {
    throw new UnauthenticatedError(
      'AUTHENTICATION_REQUIRED',
      'this operation needs an administrator credential',
    );
  }
  throw new PermissionDeniedError('ADMIN_REQUIRED', 'this operation needs the administrator role', {
    subject: caller.subject,
  });
}

/** How a caller is named in logs and history records. */
export function actorOf(caller: Caller): string {
  if (caller.subject !== '') return caller.subject;
  return caller.kind === CallerKind.APP ? caller.appId : 'anonymous';
}
