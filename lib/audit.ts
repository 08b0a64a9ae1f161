/**
 * Audit events (Art. 14.5) on `<prefix>.audit.<source>`: who did or attempted
 * what, and the outcome; every refused request, from the gateway
 * (authentication) and from each service (what the request asked for).
 * Fire and forget: a bus outage is logged, never fatal. Never key material
 * or content.
 */
import { randomUUID } from 'node:crypto';
import { create, toBinary } from '@bufbuild/protobuf';
import { timestampNow } from '@bufbuild/protobuf/wkt';
import type { Interceptor } from '@connectrpc/connect';
import { trace } from '@opentelemetry/api';
import { AuditEventSchema, AuditOutcome } from '#gen/lgsp/common/v1/audit_pb.js';
import { type Caller, CallerKind } from '#gen/lgsp/common/v1/common_pb.js';
import type { Bus, StreamSpec } from './bus/bus.js';
import { DomainError } from './errors.js';
import { streamName, subjectOf } from './infra.js';
import type { Logger } from './logger.js';
import { isProbe } from './rpc/access.js';
import { callerKey } from './rpc/caller.js';
import { interceptErrors } from './rpc/intercept-errors.js';

export { AuditOutcome };

export interface AuditEntry {
  readonly actor: Caller;
  /** The RPC, e.g. `lgsp.auth.v1.AuthService/RevokeCredential`. */
  readonly action: string;
  readonly accessKeyId?: string;
  /** What was acted on: an access key id, a transfer id, ... */
  readonly object?: string;
  readonly outcome: AuditOutcome;
  readonly reason?: string;
  readonly message?: string;
  readonly clientAddress?: string;
}

export interface AuditRecorder {
  record(entry: AuditEntry): void;
}

export function auditStream(prefix: string): StreamSpec {
  return {
    name: streamName(prefix, 'audit'),
    subjects: [subjectOf(prefix, 'audit', '>')],
    maxAgeMs: 30 * 24 * 3600_000,
  };
}

/** `source`: who records, `gateway` or a service's name. */
export function createAuditRecorder(bus: Bus, prefix: string, source: string, logger: Logger): AuditRecorder {
  const subject = subjectOf(prefix, 'audit', source);
  return {
    record(entry) {
      const id = randomUUID();
      const event = create(AuditEventSchema, {
        id,
        occurTime: timestampNow(),
        actor: entry.actor,
        accessKeyId: entry.accessKeyId ?? '',
        action: entry.action,
        object: entry.object ?? '',
        outcome: entry.outcome,
        reason: entry.reason ?? '',
        message: entry.message ?? '',
        requestId: entry.actor.requestId,
        traceId: trace.getActiveSpan()?.spanContext().traceId ?? '',
        clientAddress: entry.clientAddress ?? '',
        source,
      });
      const level = entry.outcome === AuditOutcome.REFUSED ? 'info' : 'debug';
      logger[level](
        { action: entry.action, outcome: AuditOutcome[entry.outcome], reason: entry.reason },
        'audit',
      );
      bus.publish(subject, toBinary(AuditEventSchema, event), { msgId: id }).catch((err: unknown) => {
        logger.error({ err, action: entry.action, reason: entry.reason }, 'audit event not recorded');
      });
    },
  };
}

const AUDITED = new WeakSet<object>();

/** Marks an error its handler recorded itself, so that `auditRefusals` does not record it twice. */
export function alreadyAudited<E extends object>(error: E): E {
  AUDITED.add(error);
  return error;
}

/**
 * Records the refusals a service's handlers raise for apps and people.
 * Platform services' own calls and anonymous reads are left out: the first
 * are not anyone's request, the second were let through by the gateway.
 */
export function auditRefusals(audit: AuditRecorder): Interceptor {
  return interceptErrors((error, req) => {
    const caller = req.contextValues.get(callerKey);
    const person = [CallerKind.APP, CallerKind.OPERATOR, CallerKind.USER].includes(caller.kind);
    if (error instanceof DomainError && person && !AUDITED.has(error) && !isProbe(req.service.typeName)) {
      audit.record({
        actor: caller,
        action: `${req.service.typeName}/${req.method.name}`,
        outcome: AuditOutcome.REFUSED,
        reason: error.reason,
        message: error.message,
      });
    }
    throw error;
  });
}
