/**
 * Every signed call that passes authentication and acts on the platform is an
 * integration action the audit log must hold (Art. 14.5): this records, once
 * the call has ended,
 * its action, the object when the request names one in a well-known id field,
 * the outcome, the request id and the trace id. Never a body.
 *
 * What others record is left to them, so each fact is recorded once:
 * - refusals by authentication and access checks: the authentication
 *   interceptor, which runs before this one;
 * - refusals answered by a service (invalid argument, not found, no grant,
 *   digest mismatch, ...): that service, with the reason (`auditRefusals`);
 *   they reach the gateway with the service's error details;
 * - `AuthService/VerifyAccess`, which answers a refusal inside a successful
 *   response: the auth service records each of its outcomes;
 * - refusals by the gateway's own limits (rate, streams), which run after
 *   this one, and failures (internal, unavailable, deadline): here.
 * A service may also record the effect of a successful call (a credential
 * created, a token issued); the gateway's entry is the call itself.
 *
 * Recording is fire and forget: one bus message per call, published after
 * the answer is ready, never awaited on the call's path.
 */

import type { DescMethod } from '@bufbuild/protobuf';
import { Code, ConnectError, type Interceptor, type StreamResponse } from '@connectrpc/connect';
import { context as otelContext } from '@opentelemetry/api';
import { AccessLevel } from '#gen/lgsp/common/v1/access_pb.js';
import { BadRequestSchema, type Caller, CallerKind, ErrorInfoSchema } from '#gen/lgsp/common/v1/common_pb.js';
import { AuditOutcome, type AuditRecorder } from '#lib/audit.js';
import { accessLevelOf, isProbe } from '#lib/rpc/access.js';
import { callerKey } from '#lib/rpc/caller.js';

const GATEWAY_DOMAIN = 'gateway.lgsp';

/** RPCs whose service records every outcome itself. */
const SELF_AUDITED = new Set(['lgsp.auth.v1.AuthService/VerifyAccess']);

/**
 * Calls that are not integration actions: a presence keep-alive (its effect is
 * in the connection history), and reads of what is public anyway (the unit
 * tree, the server's time). Recording them would make the log mostly noise,
 * and each entry is a transaction in the audit chain.
 */
const NOT_ACTIONS = new Set(['lgsp.notification.v1.NotificationService/Heartbeat']);
const isAction = (req: { method: DescMethod }, action: string) =>
  !NOT_ACTIONS.has(action) && accessLevelOf(req.method) !== AccessLevel.PUBLIC;

/** Request fields that name what a call acts on, by priority. */
const OBJECT_FIELDS = [
  'transferId',
  'deliveryId',
  'accessKeyId',
  'blobId',
  'webhookId',
  'grantId',
  'appId',
  'unitCode',
  'code',
  'id',
] as const;

/** Codes that mean the request was refused rather than failed. */
const REFUSALS = new Set([
  Code.InvalidArgument,
  Code.NotFound,
  Code.AlreadyExists,
  Code.PermissionDenied,
  Code.Unauthenticated,
  Code.FailedPrecondition,
  Code.ResourceExhausted,
  Code.OutOfRange,
]);

export function auditCallsInterceptor(audit: AuditRecorder): Interceptor {
  return (next) => async (req) => {
    const caller = req.contextValues.get(callerKey);
    const action = `${req.service.typeName}/${req.method.name}`;
    if (
      !signed(caller) ||
      isProbe(req.service.typeName) ||
      SELF_AUDITED.has(action) ||
      !isAction(req, action)
    ) {
      return next(req);
    }
    const object = req.stream ? '' : objectOf(req.message);
    // The span of this call: a stream's end is recorded outside it.
    const active = otelContext.active();
    const record = (error: unknown, message = '') => {
      const outcome = outcomeOf(error);
      if (outcome === undefined) return;
      otelContext.with(active, () =>
        audit.record({
          actor: caller,
          accessKeyId: caller.subject,
          action,
          ...(object === '' ? {} : { object }),
          outcome: outcome.outcome,
          ...(outcome.reason === '' ? {} : { reason: outcome.reason }),
          message: outcome.message || message,
        }),
      );
    };
    let res: Awaited<ReturnType<typeof next>>;
    try {
      res = await next(req);
    } catch (error) {
      record(error);
      throw error;
    }
    if (!res.stream) {
      record(undefined);
      return res;
    }
    const stream = res as StreamResponse;
    return { ...stream, message: recordingEnd(stream.message, record) };
  };
}

function signed(caller: Caller): boolean {
  return caller.kind !== CallerKind.ANONYMOUS && caller.kind !== CallerKind.UNSPECIFIED;
}

async function* recordingEnd<T>(
  messages: AsyncIterable<T>,
  record: (error: unknown, message?: string) => void,
): AsyncIterable<T> {
  let count = 0;
  let failure: unknown;
  try {
    for await (const m of messages) {
      count++;
      yield m;
    }
  } catch (error) {
    failure = error;
    throw error;
  } finally {
    record(failure, `stream ended after ${count} messages`);
  }
}

/** The first well-known id field the request sets, cut to 128 characters. */
function objectOf(message: unknown): string {
  const fields = message as Record<string, unknown>;
  for (const name of OBJECT_FIELDS) {
    const value = fields[name];
    if (typeof value === 'string' && value !== '') return value.slice(0, 128);
  }
  return '';
}

interface Outcome {
  readonly outcome: AuditOutcome;
  readonly reason: string;
  readonly message: string;
}

/** How the call ended, or undefined when a service has recorded its refusal itself. */
function outcomeOf(error: unknown): Outcome | undefined {
  if (error === undefined) return { outcome: AuditOutcome.SUCCEEDED, reason: '', message: '' };
  const e = ConnectError.from(error);
  if (e.code === Code.Canceled) return { outcome: AuditOutcome.FAILED, reason: 'CANCELED', message: '' };
  const info = e.findDetails(ErrorInfoSchema)[0];
  const message = e.rawMessage.slice(0, 300);
  if (info?.domain === GATEWAY_DOMAIN) return { outcome: AuditOutcome.REFUSED, reason: info.reason, message };
  // A service's typed error: the service has recorded it.
  if (info !== undefined || e.findDetails(BadRequestSchema).length > 0) return undefined;
  return {
    outcome: REFUSALS.has(e.code) ? AuditOutcome.REFUSED : AuditOutcome.FAILED,
    reason: Code[e.code].replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase(),
    message,
  };
}
