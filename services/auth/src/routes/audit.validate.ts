/** The checks of ListAuditEvents: every violation at once, before any read. */
import { timestampDate } from '@bufbuild/protobuf/wkt';
import type { ListAuditEventsRequest } from '#gen/lgsp/auth/v1/auth_service_pb.js';
import { AuditOutcome } from '#gen/lgsp/common/v1/audit_pb.js';
import { Violations } from '#lib/errors.js';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '#lib/rpc/pagination.js';
import type { AuditFilter } from '../db/audit-log.js';

const UNIT_CODE = /^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}$/;
const ACTION = /^[A-Za-z0-9_.]+(\/[A-Za-z0-9_]+)?$/;
const TOKEN_TEXT = /^[A-Za-z0-9._:@-]{1,128}$/;

export interface ListAuditInput {
  readonly filter: AuditFilter;
  readonly limit: number;
  /** Entries below this sequence: the page token. */
  readonly before: number | undefined;
}

export function checkListAuditEvents(req: ListAuditEventsRequest): ListAuditInput {
  const v = new Violations();
  const from = req.startTime === undefined ? undefined : timestampDate(req.startTime);
  const to = req.endTime === undefined ? undefined : timestampDate(req.endTime);
  if (from !== undefined && to !== undefined && from >= to)
    v.add('end_time', 'must be after start_time', 'TIME_RANGE');
  const unitCode = req.unitCode.trim().toUpperCase();
  if (unitCode !== '' && !UNIT_CODE.test(unitCode))
    v.add('unit_code', 'must be a unit code like 000.00.03.H26', 'UNIT_CODE_FORMAT');
  const action = req.action.trim();
  if (action !== '' && !ACTION.test(action))
    v.add(
      'action',
      'must be a full RPC name like lgsp.transfer.v1.TransferService/CreateTransfer, or a service name',
      'ACTION_FORMAT',
    );
  const actor = req.actor.trim();
  if (actor !== '' && !TOKEN_TEXT.test(actor))
    v.add('actor', 'is not an app id or a subject', 'ACTOR_FORMAT');
  const requestId = req.requestId.trim();
  if (requestId !== '' && !TOKEN_TEXT.test(requestId))
    v.add('request_id', 'is not a request id', 'REQUEST_ID_FORMAT');
  const outcome = AuditOutcome[req.outcome];
  if (outcome === undefined) v.add('outcome', 'is not an AuditOutcome', 'OUTCOME_UNKNOWN');
  if (req.pageSize < 0 || req.pageSize > MAX_PAGE_SIZE)
    v.add('page_size', `must be between 0 and ${MAX_PAGE_SIZE}`, 'PAGE_SIZE_RANGE');
  const before = req.pageToken === '' ? undefined : decodeToken(req.pageToken);
  if (req.pageToken !== '' && before === undefined)
    v.add('page_token', 'is not a token returned by this API', 'PAGE_TOKEN_INVALID');
  v.throwIfAny();
  const filter: AuditFilter = {
    ...(from === undefined ? {} : { from }),
    ...(to === undefined ? {} : { to }),
    ...(actor === '' ? {} : { actor }),
    ...(unitCode === '' ? {} : { unitCode }),
    ...(action === '' ? {} : { action }),
    ...(req.outcome === AuditOutcome.UNSPECIFIED || outcome === undefined ? {} : { outcome }),
    ...(requestId === '' ? {} : { requestId }),
  };
  return { filter, limit: req.pageSize === 0 ? DEFAULT_PAGE_SIZE : req.pageSize, before };
}

/** The token of the page after one that ended at sequence `lastSeq`, or empty after a short page. */
export function auditPageToken(limit: number, returned: number, lastSeq: number | undefined): string {
  if (returned < limit || lastSeq === undefined) return '';
  return Buffer.from(JSON.stringify({ b: lastSeq })).toString('base64url');
}

function decodeToken(token: string): number | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (typeof parsed === 'object' && parsed !== null && 'b' in parsed) {
      const b = (parsed as { b: unknown }).b;
      if (typeof b === 'number' && Number.isSafeInteger(b) && b >= 1) return b;
    }
  } catch {
    // reported by the caller
  }
  return undefined;
}
