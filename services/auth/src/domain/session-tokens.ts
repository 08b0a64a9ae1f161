/**
 * Session tokens (khóa phiên truy xuất, Art. 10.2): JWTs signed with the
 * platform's ES256 key. `sub` is the source app, `aud` the destination app,
 * `jti` the session id; the units, the grant and the scopes travel as claims.
 */
import { randomBytes } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { errors, type JWTVerifyGetKey, jwtVerify, SignJWT } from 'jose';
import { RefusalReason, type SessionToken, SessionTokenSchema } from '#gen/lgsp/auth/v1/resources_pb.js';
import type { Signer } from './session-keys.js';

export const TOKEN_TYPE = 'lgsp-session+jwt';
export const MAX_TOKEN_CHARS = 1024;

export interface Session {
  readonly sessionId: string;
  readonly sourceAppId: string;
  readonly sourceUnitCode: string;
  readonly destinationAppId: string;
  readonly destinationUnitCode: string;
  readonly grantId: string;
  readonly scopes: readonly string[];
  readonly issuedAt: Date;
  readonly expiresAt: Date;
}

export function newSessionId(): string {
  return `ses_${randomBytes(12).toString('base64url')}`;
}

export async function signSessionToken(signer: Signer, issuer: string, session: Session): Promise<string> {
  return new SignJWT({
    source_unit: session.sourceUnitCode,
    dest_unit: session.destinationUnitCode,
    grant_id: session.grantId,
    scopes: [...session.scopes],
  })
    .setProtectedHeader({ alg: 'ES256', kid: signer.kid, typ: TOKEN_TYPE })
    .setIssuer(issuer)
    .setSubject(session.sourceAppId)
    .setAudience(session.destinationAppId)
    .setJti(session.sessionId)
    .setIssuedAt(Math.floor(session.issuedAt.getTime() / 1000))
    .setExpirationTime(Math.floor(session.expiresAt.getTime() / 1000))
    .sign(signer.privateKey);
}

export type TokenCheck =
  | { readonly ok: true; readonly session: Session }
  | { readonly ok: false; readonly reason: RefusalReason; readonly message: string };

/** Verifies signature, issuer, audience and lifetime; says which one failed. */
export async function readSessionToken(
  token: string,
  resolve: JWTVerifyGetKey,
  expected: { readonly issuer: string; readonly audience: string; readonly now?: Date },
): Promise<TokenCheck> {
  const refuse = (reason: RefusalReason, message: string): TokenCheck => ({ ok: false, reason, message });
  if (token.length > MAX_TOKEN_CHARS)
    return refuse(RefusalReason.TOKEN_INVALID, 'the session token is too long');
  try {
    const { payload } = await jwtVerify(token, resolve, {
      issuer: expected.issuer,
      audience: expected.audience,
      algorithms: ['ES256'],
      typ: TOKEN_TYPE,
      requiredClaims: ['sub', 'aud', 'exp', 'iat', 'jti'],
      ...(expected.now === undefined ? {} : { currentDate: expected.now }),
    });
    const str = (value: unknown) => (typeof value === 'string' ? value : '');
    const scopes = Array.isArray(payload['scopes'])
      ? payload['scopes'].filter((s) => typeof s === 'string')
      : [];
    return {
      ok: true,
      session: {
        sessionId: str(payload.jti),
        sourceAppId: str(payload.sub),
        sourceUnitCode: str(payload['source_unit']),
        destinationAppId: expected.audience,
        destinationUnitCode: str(payload['dest_unit']),
        grantId: str(payload['grant_id']),
        scopes,
        issuedAt: new Date((payload.iat ?? 0) * 1000),
        expiresAt: new Date((payload.exp ?? 0) * 1000),
      },
    };
  } catch (error) {
    if (error instanceof errors.JWTExpired) {
      return refuse(RefusalReason.TOKEN_EXPIRED, 'the session token has expired; ask for a new one');
    }
    if (error instanceof errors.JWTClaimValidationFailed && error.claim === 'aud') {
      return refuse(
        RefusalReason.TOKEN_WRONG_AUDIENCE,
        'the session token was issued for another destination',
      );
    }
    if (error instanceof errors.JOSEError) {
      return refuse(
        RefusalReason.TOKEN_INVALID,
        'the session token is not one the platform issued, or was altered',
      );
    }
    throw error;
  }
}

export function toSessionToken(session: Session): SessionToken {
  return create(SessionTokenSchema, {
    sessionId: session.sessionId,
    sourceAppId: session.sourceAppId,
    sourceUnitCode: session.sourceUnitCode,
    destinationAppId: session.destinationAppId,
    destinationUnitCode: session.destinationUnitCode,
    grantId: session.grantId,
    scopes: [...session.scopes],
    issueTime: timestampFromDate(session.issuedAt),
    expireTime: timestampFromDate(session.expiresAt),
  });
}

/** Whether `path` falls under one of the token's scopes; no scopes means any path. */
export function inScope(scopes: readonly string[], path: string): boolean {
  return scopes.length === 0 || scopes.some((scope) => path.startsWith(scope));
}
