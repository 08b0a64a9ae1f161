/** Handlers of the audit log's RPCs: ListAuditEvents and VerifyAuditLog (Art. 14.5). */
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { ServiceImpl } from '@connectrpc/connect';
import {
  AuditChainAnchorSchema,
  type AuditChainBreak,
  AuditChainBreakSchema,
  type AuditLogEntry,
  AuditLogEntrySchema,
} from '#gen/lgsp/auth/v1/audit_log_pb.js';
import type { AuthService } from '#gen/lgsp/auth/v1/auth_service_pb.js';
import { AuditEventSchema, AuditOutcome } from '#gen/lgsp/common/v1/audit_pb.js';
import { CallerKind } from '#gen/lgsp/common/v1/common_pb.js';
import { PermissionDeniedError } from '#lib/errors.js';
import { callerOf } from '#lib/rpc/caller.js';
import type { AuthContext } from '../context.js';
import { listAuditLog, verifyAuditChain } from '../db/audit-log.js';
import type { AuditLogTable } from '../db/schema.js';
import type { ChainBreak } from '../domain/audit-chain.js';
import { administeredUnit, isProvinceLevel } from '../domain/permissions.js';
import { auditPageToken, checkListAuditEvents } from './audit.validate.js';

export function auditRoutes(ctx: AuthContext): Partial<ServiceImpl<typeof AuthService>> {
  return {
    async listAuditEvents(req, handlerCtx) {
      const caller = callerOf(handlerCtx);
      const input = checkListAuditEvents(req);
      let filter = input.filter;
      if (!isProvinceLevel(caller)) {
        const unit = administeredUnit(caller);
        if (unit === undefined) {
          throw new PermissionDeniedError('ACCESS_LEVEL', 'reading the audit log needs an administrator', {
            subject: caller.subject,
          });
        }
        if (filter.unitCode !== undefined && filter.unitCode !== unit) {
          throw new PermissionDeniedError(
            'OTHER_UNIT',
            `a unit administrator of ${unit} may read only the audit log of that unit`,
            { unit_code: filter.unitCode },
          );
        }
        filter = { ...filter, unitCode: unit };
      }
      const rows = await listAuditLog(ctx.db, filter, input.limit, input.before);
      return {
        entries: rows.map(toEntry),
        nextPageToken: auditPageToken(input.limit, rows.length, rows.at(-1)?.seq),
      };
    },

    async verifyAuditLog() {
      const report = await verifyAuditChain(ctx.db);
      return {
        intact: report.broken === undefined,
        entriesChecked: BigInt(report.checked),
        anchor: create(AuditChainAnchorSchema, {
          sequence: BigInt(report.anchor.anchor_seq),
          hash: report.anchor.anchor_hash,
          ...(report.anchor.anchor_time === null
            ? {}
            : { pruneTime: timestampFromDate(report.anchor.anchor_time) }),
        }),
        headSequence: BigInt(report.headSeq),
        headHash: report.headHash,
        ...(report.broken === undefined ? {} : { firstBreak: toBreak(report.broken) }),
      };
    },
  };
}

function toBreak(b: ChainBreak): AuditChainBreak {
  return create(AuditChainBreakSchema, {
    sequence: BigInt(b.seq),
    eventId: b.eventId,
    problem: b.problem,
    message: b.message,
  });
}

function enumValue<T extends Record<string, string | number>>(e: T, name: string): number {
  const value = e[name];
  return typeof value === 'number' ? value : 0;
}

export function toEntry(row: AuditLogTable): AuditLogEntry {
  return create(AuditLogEntrySchema, {
    sequence: BigInt(row.seq),
    event: create(AuditEventSchema, {
      id: row.event_id,
      occurTime: timestampFromDate(row.occur_time),
      actor: {
        kind: enumValue(CallerKind, row.actor_kind),
        appId: row.actor_app_id,
        unitCode: row.actor_unit_code,
        subject: row.actor_subject,
        roles: row.actor_roles,
        requestId: row.request_id,
      },
      accessKeyId: row.access_key_id,
      action: row.action,
      object: row.object,
      outcome: enumValue(AuditOutcome, row.outcome),
      reason: row.reason,
      message: row.message,
      requestId: row.request_id,
      traceId: row.trace_id,
      clientAddress: row.client_address,
      source: row.source,
    }),
    recordTime: timestampFromDate(row.record_time),
    hash: row.hash,
    previousHash: row.prev_hash,
  });
}
