/** Notices belong to apps: only an app, signing as itself, reads, acknowledges and sends them. */
import type { HandlerContext } from '@connectrpc/connect';
import { type Caller, CallerKind } from '#gen/lgsp/common/v1/common_pb.js';
import { PermissionDeniedError } from '#lib/errors.js';
import { callerOf } from '#lib/rpc/caller.js';

export function requireApp(ctx: HandlerContext): Caller {
  const caller = callerOf(ctx);
  if (caller.kind !== CallerKind.APP || caller.appId === '') {
    throw new PermissionDeniedError(
      'APP_REQUIRED',
      "notices belong to apps: sign the call with the app's own credential",
      { subject: caller.subject },
    );
  }
  return caller;
}
