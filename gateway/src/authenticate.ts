/**
 * Who is calling. Until the auth service verifies signed requests, the only
 * credential is the operator bootstrap token (`Authorization: Bearer ...`);
 * without one a call is anonymous and reaches only public reads. A caller
 * entry sent by a client is never trusted: the gateway builds its own.
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { CallerKind, CallerSchema, ErrorInfoSchema } from '#gen/lgsp/common/v1/common_pb.js';
import { ADMIN_ROLE, callerKey, REQUEST_ID_HEADER } from '#lib/rpc/caller.js';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

export function authenticationInterceptor(bootstrapToken: string | undefined): Interceptor {
  const expected = bootstrapToken === undefined ? undefined : digest(bootstrapToken);
  return (next) => async (req) => {
    const offered = req.header.get(REQUEST_ID_HEADER);
    const requestId = offered !== null && REQUEST_ID.test(offered) ? offered : randomUUID();
    const authorization = req.header.get('authorization');
    if (authorization === null) {
      req.contextValues.set(callerKey, create(CallerSchema, { kind: CallerKind.ANONYMOUS, requestId }));
      return next(req);
    }
    const token = /^Bearer\s+(\S+)$/i.exec(authorization)?.[1];
    if (token === undefined || expected === undefined || !timingSafeEqual(digest(token), expected)) {
      throw new ConnectError('the credential was not accepted', Code.Unauthenticated, undefined, [
        {
          desc: ErrorInfoSchema,
          value: {
            reason: 'CREDENTIAL_REJECTED',
            domain: 'gateway.lgsp',
            metadata: { request_id: requestId },
          },
        },
      ]);
    }
    req.contextValues.set(
      callerKey,
      create(CallerSchema, {
        kind: CallerKind.OPERATOR,
        subject: 'operator:bootstrap',
        roles: [ADMIN_ROLE],
        requestId,
      }),
    );
    return next(req);
  };
}

/** Fixed-length digests let the comparison take the same time whatever the token's length. */
function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
