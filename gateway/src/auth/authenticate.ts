/**
 * Who is calling, for every public RPC. A request that carries signature
 * headers is verified here, at the edge, against cached key material (no call
 * to the auth service in the common case); one without them is anonymous.
 * Then the RPC's declared access level is enforced. Every refusal answers
 * `Unauthenticated` or `PermissionDenied` with a machine-readable reason and
 * is recorded as an audit event. A caller entry sent by a client is never
 * trusted: the gateway builds its own.
 */
import { randomUUID } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import type { Interceptor } from '@connectrpc/connect';
import { RefusalReason } from '#gen/lgsp/auth/v1/resources_pb.js';
import { type Caller, CallerKind, CallerSchema } from '#gen/lgsp/common/v1/common_pb.js';
import { AuditOutcome, type AuditRecorder } from '#lib/audit.js';
import type { NonceStore } from '#lib/auth/nonces.js';
import {
  hasSignatureHeaders,
  readSignatureHeaders,
  type SignedFacts,
  UNSIGNED_STREAM,
} from '#lib/auth/signing.js';
import { type VerifyPolicy, verifyRequest } from '#lib/auth/verify-request.js';
import { DomainError, UnauthenticatedError } from '#lib/errors.js';
import { accessLevelOf, assertAccess, isProbe } from '#lib/rpc/access.js';
import { bodyDigestKey } from '#lib/rpc/body-digest.js';
import { callerKey, REQUEST_ID_HEADER } from '#lib/rpc/caller.js';
import type { KeyCache } from './key-cache.js';
import type { UsageRecorder } from './usage.js';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

export interface AuthenticatorDeps {
  readonly keys: KeyCache;
  readonly nonces: NonceStore;
  readonly policy: VerifyPolicy;
  readonly audit: AuditRecorder;
  readonly usage: UsageRecorder;
}

/** Whether the raw body must be hashed before decoding: signed requests that are not streamed uploads. */
export function needsBodyDigest(headers: Record<string, string | string[] | undefined>): boolean {
  return headers['lgsp-signature'] !== undefined && headers['lgsp-content-sha256'] !== UNSIGNED_STREAM;
}

export function authenticationInterceptor(deps: AuthenticatorDeps): Interceptor {
  return (next) => async (req) => {
    if (isProbe(req.service.typeName)) return next(req);
    const offered = req.header.get(REQUEST_ID_HEADER);
    const requestId = offered !== null && REQUEST_ID.test(offered) ? offered : randomUUID();
    const action = `${req.service.typeName}/${req.method.name}`;
    const anonymous = create(CallerSchema, { kind: CallerKind.ANONYMOUS, requestId });
    let caller = anonymous;
    let accessKeyId = '';
    try {
      if (hasSignatureHeaders(req.header)) {
        const read = readSignatureHeaders(req.header);
        if (!read.ok) throw refusal(read.problem, read.message, { header: read.header });
        accessKeyId = read.facts.accessKeyId;
        const url = new URL(req.url);
        const facts: SignedFacts = {
          ...read.facts,
          method: req.requestMethod,
          path: url.pathname,
          query: url.search.slice(1),
        };
        checkBodyDigest(facts, req.contextValues.get(bodyDigestKey), req.method.methodKind);
        caller = await verify(deps, facts, read.signature, requestId);
      }
      req.contextValues.set(callerKey, caller);
      assertAccess(caller, accessLevelOf(req.method), action);
    } catch (error) {
      if (error instanceof DomainError) {
        deps.audit.record({
          actor: caller,
          accessKeyId,
          action,
          outcome: AuditOutcome.REFUSED,
          reason: error.reason,
          message: error.message,
        });
      }
      throw error;
    }
    return next(req);
  };
}

async function verify(
  deps: AuthenticatorDeps,
  facts: SignedFacts,
  signature: string,
  requestId: string,
): Promise<Caller> {
  const lookup = await deps.keys.get(facts.accessKeyId);
  if ('refusal' in lookup) {
    throw refusal(RefusalReason[lookup.refusal.reason], lookup.refusal.message, {
      access_key_id: facts.accessKeyId,
    });
  }
  const now = new Date();
  const verdict = await verifyRequest({
    facts,
    signature,
    material: lookup.material,
    nonces: deps.nonces,
    policy: deps.policy,
    now,
  });
  if (!verdict.ok) {
    const metadata: Record<string, string> = {
      access_key_id: facts.accessKeyId,
      server_time: now.toISOString(),
    };
    if (verdict.skewMs !== undefined) metadata['skew_seconds'] = String(Math.round(verdict.skewMs / 1000));
    throw refusal(verdict.code, verdict.message, metadata);
  }
  deps.usage.used(facts.accessKeyId);
  const material = verdict.material;
  const owner = material.owner?.owner;
  return create(CallerSchema, {
    kind: owner?.case === 'appId' ? CallerKind.APP : CallerKind.OPERATOR,
    appId: owner?.case === 'appId' ? owner.value : '',
    unitCode: material.unitCode,
    subject: material.accessKeyId,
    roles: [...material.roles],
    requestId,
  });
}

/** The signed digest must be the digest of the bytes that arrived; only uploads may leave it unsigned. */
function checkBodyDigest(facts: SignedFacts, digest: string | undefined, kind: string): void {
  if (facts.contentSha256 === UNSIGNED_STREAM) {
    if (kind === 'client_streaming' || kind === 'bidi_streaming') return;
    throw refusal(
      'MALFORMED_HEADER',
      `lgsp-content-sha256 may be ${UNSIGNED_STREAM} only for streamed uploads`,
      {
        header: 'lgsp-content-sha256',
      },
    );
  }
  if (digest === undefined || digest !== facts.contentSha256) {
    throw refusal(
      RefusalReason[RefusalReason.CONTENT_DIGEST_MISMATCH],
      'lgsp-content-sha256 is not the SHA-256 of the body that arrived',
      { header: 'lgsp-content-sha256' },
    );
  }
}

function refusal(reason: string, message: string, metadata: Record<string, string>): UnauthenticatedError {
  return new UnauthenticatedError(reason, message, metadata);
}
