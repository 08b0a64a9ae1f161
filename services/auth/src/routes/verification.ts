/**
 * The internal verification RPCs the gateway uses (GetKeyMaterial,
 * VerifyRequestSignature) and the destination-side check of Art. 10.4–10.6
 * (VerifyAccess). Refusals are answers, not errors: the caller acts on them.
 */
import { create } from '@bufbuild/protobuf';
import { type Duration, durationFromMs } from '@bufbuild/protobuf/wkt';
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import type { AuthService } from '#gen/lgsp/auth/v1/auth_service_pb.js';
import { type Refusal, RefusalReason, type SignedRequest } from '#gen/lgsp/auth/v1/resources_pb.js';
import { CallerKind, CallerSchema } from '#gen/lgsp/common/v1/common_pb.js';
import { verifyRequest } from '#lib/auth/verify-request.js';
import { InvalidArgumentError, PermissionDeniedError } from '#lib/errors.js';
import { callerOf } from '#lib/rpc/caller.js';
import type { AuthContext } from '../context.js';
import { markUsed } from '../db/credentials.js';
import { AUTH_SERVICE, AuditOutcome } from '../domain/audit.js';
import { clockPolicy } from '../domain/clock.js';
import { loadKeyMaterial, refusalOf } from '../domain/key-material.js';
import { inScope, readSessionToken, toSessionToken } from '../domain/session-tokens.js';
import { readSignedRequest } from '../domain/signed-request.js';

/**
 * How long a gateway keeps key material. Revocation, rotation, suspension and
 * expiry are broadcast and drop it at once, and a gateway drops every key when
 * its bus connection comes back (it may have missed a broadcast): the TTL is
 * only the last safety net, and a short one made every app's key a lookup
 * (auth and registry queries) twice per 30 s heartbeat interval.
 */
export const MATERIAL_CACHE_TTL_MS = 300_000;
export const NEGATIVE_CACHE_TTL_MS = 10_000;

export function verificationRoutes(ctx: AuthContext): Partial<ServiceImpl<typeof AuthService>> {
  /** Every refusal goes to the audit log (Art. 14.5): who was refused, and why. */
  const refused = (
    handlerCtx: HandlerContext,
    rpc: string,
    accessKeyId: string,
    refusal: Refusal,
    clientAddress: string,
  ): Refusal => {
    ctx.audit.record({
      actor: callerOf(handlerCtx),
      action: `${AUTH_SERVICE}/${rpc}`,
      accessKeyId,
      outcome: AuditOutcome.REFUSED,
      reason: RefusalReason[refusal.reason],
      message: refusal.message,
      clientAddress,
    });
    return refusal;
  };

  const used = (accessKeyId: string) => {
    markUsed(ctx.db, [accessKeyId]).catch((err: unknown) =>
      ctx.logger.warn({ err, accessKeyId }, 'last-used time not recorded'),
    );
  };

  return {
    async getKeyMaterial(req) {
      const accessKeyId = req.accessKeyId.trim();
      if (accessKeyId === '') {
        throw new InvalidArgumentError([
          { field: 'access_key_id', description: 'is required', reason: 'REQUIRED' },
        ]);
      }
      const lookup = await loadKeyMaterial(ctx, accessKeyId);
      return {
        outcome: lookup.ok
          ? { case: 'material', value: lookup.material }
          : { case: 'refusal', value: lookup.refusal },
        cacheTtl: durationFromMs(MATERIAL_CACHE_TTL_MS),
        negativeCacheTtl: durationFromMs(NEGATIVE_CACHE_TTL_MS),
        clockPolicy: clockPolicy(ctx.policy.maxSkewMs),
      };
    },

    async verifyRequestSignature(req, handlerCtx) {
      const signed = required(req.request, 'request');
      const now = new Date();
      const read = readSignedRequest(signed);
      const skew = read.signedAt === undefined ? {} : { clockSkew: skewOf(now, read.signedAt) };
      const refuse = (refusal: Refusal) => ({
        outcome: {
          case: 'refusal' as const,
          value: refused(
            handlerCtx,
            'VerifyRequestSignature',
            signed.accessKeyId,
            refusal,
            req.clientAddress,
          ),
        },
        ...skew,
      });
      if (!read.ok) return refuse(refusalOf(RefusalReason.MALFORMED, read.message, now));
      const lookup = await loadKeyMaterial(ctx, read.facts.accessKeyId, now);
      if (!lookup.ok) return refuse(lookup.refusal);
      const verdict = await verifyRequest({
        facts: read.facts,
        signature: read.signature,
        material: lookup.material,
        nonces: ctx.nonces,
        policy: ctx.policy,
        now,
      });
      if (!verdict.ok) return refuse(refusalOf(verdict.reason, verdict.message, now));
      used(read.facts.accessKeyId);
      const { material } = verdict;
      const owner = material.owner?.owner;
      const caller = create(CallerSchema, {
        kind: owner?.case === 'appId' ? CallerKind.APP : CallerKind.OPERATOR,
        appId: owner?.case === 'appId' ? owner.value : '',
        unitCode: material.unitCode,
        subject: material.accessKeyId,
        roles: [...material.roles],
        requestId: req.requestId,
      });
      return { outcome: { case: 'caller', value: caller }, ...skew };
    },

    async verifyAccess(req, handlerCtx) {
      const destination = callerOf(handlerCtx);
      if (destination.kind !== CallerKind.APP || destination.appId === '') {
        throw new PermissionDeniedError(
          'APP_REQUIRED',
          'VerifyAccess is asked by the destination app, signing as itself',
          {
            subject: destination.subject,
          },
        );
      }
      const incoming = required(req.incoming, 'incoming');
      const now = new Date();
      const refuse = (reason: RefusalReason, message: string) => ({
        outcome: {
          case: 'refusal' as const,
          value: refused(
            handlerCtx,
            'VerifyAccess',
            incoming.accessKeyId,
            refusalOf(reason, message, now),
            req.sourceAddress,
          ),
        },
      });
      const read = readSignedRequest(incoming);
      if (!read.ok) return refuse(RefusalReason.MALFORMED, read.message);
      if (incoming.sessionToken === '')
        return refuse(RefusalReason.TOKEN_INVALID, 'the call carries no session token');

      const token = await readSessionToken(incoming.sessionToken, ctx.sessionKeys.resolve, {
        issuer: ctx.config.tokenIssuer,
        audience: destination.appId,
        now,
      });
      if (!token.ok) return refuse(token.reason, token.message);
      const { session } = token;

      const lookup = await loadKeyMaterial(ctx, read.facts.accessKeyId, now);
      if (!lookup.ok) return refuse(lookup.refusal.reason, lookup.refusal.message);
      const owner = lookup.material.owner?.owner;
      if (owner?.case !== 'appId' || owner.value !== session.sourceAppId) {
        return refuse(
          RefusalReason.TOKEN_WRONG_SOURCE,
          'the call is signed by a key of another app than the session token was issued to',
        );
      }
      // The signature check comes before anything else about the call, and spends the nonce.
      const verdict = await verifyRequest({
        facts: read.facts,
        signature: read.signature,
        material: lookup.material,
        nonces: ctx.nonces,
        policy: ctx.policy,
        now,
      });
      if (!verdict.ok) return refuse(verdict.reason, verdict.message);
      if (!inScope(session.scopes, read.facts.path)) {
        return refuse(
          RefusalReason.NOT_GRANTED,
          `the path ${read.facts.path} is outside the session token's scopes`,
        );
      }
      const grantId = await ctx.registry.callGrant(session.sourceAppId, destination.appId);
      if (grantId === undefined) {
        return refuse(
          RefusalReason.NOT_GRANTED,
          `app ${session.sourceAppId} no longer holds a CALL grant on this app`,
        );
      }
      used(read.facts.accessKeyId);
      ctx.audit.record({
        actor: destination,
        action: `${AUTH_SERVICE}/VerifyAccess`,
        accessKeyId: read.facts.accessKeyId,
        object: session.sessionId,
        outcome: AuditOutcome.SUCCEEDED,
        message: `${session.sourceAppId} may call ${read.facts.method} ${read.facts.path}`,
        clientAddress: req.sourceAddress,
      });
      return {
        outcome: {
          case: 'granted',
          value: {
            session: toSessionToken({ ...session, grantId }),
            source: create(CallerSchema, {
              kind: CallerKind.APP,
              appId: session.sourceAppId,
              unitCode: lookup.material.unitCode,
              subject: lookup.material.accessKeyId,
            }),
          },
        },
      };
    },
  };
}

function required(value: SignedRequest | undefined, field: string): SignedRequest {
  if (value === undefined)
    throw new InvalidArgumentError([{ field, description: 'is required', reason: 'REQUIRED' }]);
  return value;
}

/** Server time minus signing time: positive when the client's clock is behind. */
function skewOf(now: Date, signedAt: Date): Duration {
  return durationFromMs(now.getTime() - signedAt.getTime());
}
