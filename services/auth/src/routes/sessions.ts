/**
 * IssueSessionToken, steps 1–2 of Art. 10: the source app, signing as itself,
 * asks to call a destination app; the platform checks both apps and the CALL
 * grant and answers a session token (a JWT the destination has checked by
 * VerifyAccess) with the access information.
 */
import type { ServiceImpl } from '@connectrpc/connect';
import type { AuthService, IssueSessionTokenRequest } from '#gen/lgsp/auth/v1/auth_service_pb.js';
import { CallerKind } from '#gen/lgsp/common/v1/common_pb.js';
import { alreadyAudited } from '#lib/audit.js';
import { FailedPreconditionError, PermissionDeniedError, Violations } from '#lib/errors.js';
import { callerOf } from '#lib/rpc/caller.js';
import { isActiveApp } from '../clients/registry.js';
import { MAX_SESSION_TOKEN_TTL_SECONDS } from '../config.js';
import type { AuthContext } from '../context.js';
import { AUTH_SERVICE, AuditOutcome } from '../domain/audit.js';
import { newSessionId, type Session, signSessionToken, toSessionToken } from '../domain/session-tokens.js';
import { appId, duration, text } from './checks.js';

const MAX_SCOPES = 20;
const MAX_SCOPE_BYTES = 512;
/** The scopes travel inside the token, which must stay within 1024 characters. */
const MAX_SCOPES_JSON_BYTES = 360;

export function sessionRoutes(ctx: AuthContext): Partial<ServiceImpl<typeof AuthService>> {
  return {
    async issueSessionToken(req, handlerCtx) {
      const source = callerOf(handlerCtx);
      if (source.kind !== CallerKind.APP || source.appId === '') {
        throw new PermissionDeniedError(
          'APP_REQUIRED',
          'a session token is issued to an app, signing as itself',
          {
            subject: source.subject,
          },
        );
      }
      const input = checkIssueSessionToken(req, ctx.config.sessionTokenTtlSeconds * 1000);
      const refuse: (error: FailedPreconditionError | PermissionDeniedError) => never = (error) => {
        ctx.audit.record({
          actor: source,
          action: `${AUTH_SERVICE}/IssueSessionToken`,
          accessKeyId: source.subject,
          object: input.destinationAppId,
          outcome: AuditOutcome.REFUSED,
          reason: error.reason,
          message: error.message,
        });
        throw alreadyAudited(error);
      };
      const [sourceApp, destinationApp] = await Promise.all([
        ctx.registry.getApp(source.appId),
        ctx.registry.getApp(input.destinationAppId),
      ]);
      if (!isActiveApp(sourceApp)) {
        refuse(
          new FailedPreconditionError('OWNER_INACTIVE', `app ${source.appId} is not active`, {
            app_id: source.appId,
          }),
        );
      }
      if (!isActiveApp(destinationApp)) {
        refuse(
          new FailedPreconditionError(
            'DESTINATION_UNAVAILABLE',
            `app ${input.destinationAppId} does not exist or is not active`,
            { app_id: input.destinationAppId },
          ),
        );
      }
      const grantId = await ctx.registry.callGrant(sourceApp.id, destinationApp.id);
      if (grantId === undefined) {
        refuse(
          new PermissionDeniedError(
            'NOT_GRANTED',
            `app ${sourceApp.id} holds no CALL grant on app ${destinationApp.id}`,
            {
              source_app_id: sourceApp.id,
              destination_app_id: destinationApp.id,
            },
          ),
        );
      }
      const now = new Date(Math.floor(Date.now() / 1000) * 1000);
      const session: Session = {
        sessionId: newSessionId(),
        sourceAppId: sourceApp.id,
        sourceUnitCode: sourceApp.unitCode,
        destinationAppId: destinationApp.id,
        destinationUnitCode: destinationApp.unitCode,
        grantId,
        scopes: input.scopes,
        issuedAt: now,
        expiresAt: new Date(now.getTime() + input.ttlMs),
      };
      const token = await signSessionToken(await ctx.sessionKeys.signer(), ctx.config.tokenIssuer, session);
      ctx.audit.record({
        actor: source,
        action: `${AUTH_SERVICE}/IssueSessionToken`,
        accessKeyId: source.subject,
        object: destinationApp.id,
        outcome: AuditOutcome.SUCCEEDED,
        message: `session ${session.sessionId} under grant ${grantId}${input.purpose === '' ? '' : `: ${input.purpose}`}`,
      });
      return { sessionToken: token, session: toSessionToken(session) };
    },
  };
}

function checkIssueSessionToken(req: IssueSessionTokenRequest, defaultTtlMs: number) {
  const v = new Violations();
  const destinationAppId = appId('destination_app_id', req.destinationAppId, v);
  if (req.scopes.length > MAX_SCOPES) v.add('scopes', `at most ${MAX_SCOPES} entries`, 'TOO_MANY');
  req.scopes.forEach((scope, i) => {
    if (!scope.startsWith('/'))
      v.add(`scopes[${i}]`, 'must be a path prefix starting with "/"', 'SCOPE_FORMAT');
    else if (Buffer.byteLength(scope) > MAX_SCOPE_BYTES) {
      v.add(`scopes[${i}]`, `must be at most ${MAX_SCOPE_BYTES} bytes`, 'TOO_LONG');
    }
  });
  if (Buffer.byteLength(JSON.stringify(req.scopes)) > MAX_SCOPES_JSON_BYTES) {
    v.add(
      'scopes',
      `together must be at most about ${MAX_SCOPES_JSON_BYTES} bytes, to fit in the token`,
      'TOO_LONG',
    );
  }
  const ttlMs = duration(
    'ttl',
    req.ttl,
    { min: 60_000, max: MAX_SESSION_TOKEN_TTL_SECONDS * 1000, fallback: defaultTtlMs },
    v,
  );
  const purpose = text('purpose', req.purpose, 500, v);
  v.throwIfAny();
  return { destinationAppId, scopes: [...new Set(req.scopes)], ttlMs, purpose };
}
