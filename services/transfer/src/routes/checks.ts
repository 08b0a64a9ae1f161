/** Checks of the transfer service's requests: every problem at once, naming the field. */

import { createHash } from 'node:crypto';
import { create, toBinary } from '@bufbuild/protobuf';
import { type Party, Priority } from '#gen/lgsp/common/v1/common_pb.js';
import {
  type CreateTransferRequest,
  CreateTransferRequestSchema,
} from '#gen/lgsp/transfer/v1/transfer_service_pb.js';
import { isUnitCode, normalizeUnitCode } from '#lib/domain/unit-code.js';
import { Violations } from '#lib/errors.js';
import type { TransferConfig } from '../config.js';
import type { PartyJson, PolicyJson, ProtocolName } from '../db/schema.js';
import { type IdKind, isId } from '../domain/ids.js';
import { checkPolicy } from '../domain/policy.js';
import { protocols } from '../domain/states.js';

export const MAX_RECIPIENTS = 500;
const MAX_SUBJECT = 500;
const IDEMPOTENCY_KEY = /^[A-Za-z0-9_.:-]{1,128}$/;
const APP_ID = /^app_[0-9a-f]{16}$/;
// type "/" subtype, RFC 6838 restricted names, optional parameters.
const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}(\s*;.*)?$/i;

export interface NewTransferInput {
  readonly recipients: readonly PartyJson[];
  readonly subject: string;
  readonly priority: number;
  readonly contentType: string;
  readonly protocol: ProtocolName;
  readonly sizeBytes: bigint;
  readonly sha256: Uint8Array;
  readonly idempotencyKey: string | undefined;
  readonly policy: PolicyJson;
  readonly inlineContent: Uint8Array | undefined;
  /** What an idempotent retry must repeat exactly. */
  readonly requestDigest: string;
}

export function checkCreateTransfer(
  req: CreateTransferRequest,
  config: TransferConfig,
  now: Date,
): NewTransferInput {
  const v = new Violations();
  const recipients = checkRecipients(req.recipients, v);
  const subject = req.subject.trim();
  if (subject === '') v.add('subject', 'is required', 'REQUIRED');
  else if (subject.length > MAX_SUBJECT)
    v.add('subject', `must be at most ${MAX_SUBJECT} characters`, 'TOO_LONG');
  if (!(req.priority in Priority)) v.add('priority', 'is not a known priority', 'UNKNOWN_PRIORITY');
  const contentType = req.contentType.trim().toLowerCase();
  if (contentType === '') v.add('content_type', 'is required', 'REQUIRED');
  else if (contentType.length > 255 || !MEDIA_TYPE.test(contentType)) {
    v.add('content_type', 'must be a media type like application/json', 'MEDIA_TYPE_FORMAT');
  }
  const protocol = protocols.fromProto(req.protocol);
  if (protocol === undefined) v.add('protocol', 'is required: EDXML, EDXML_STATUS or PLAIN_DATA', 'REQUIRED');
  if (req.sizeBytes < 1n) v.add('size_bytes', 'must be at least 1', 'OUT_OF_RANGE');
  else if (req.sizeBytes > BigInt(config.maxTransferBytes)) {
    v.add('size_bytes', `must be at most ${config.maxTransferBytes} bytes`, 'TOO_LARGE');
  }
  checkSha256('sha256', req.sha256, v);
  const key = req.idempotencyKey;
  if (key !== '' && !IDEMPOTENCY_KEY.test(key)) {
    v.add('idempotency_key', 'must be 1 to 128 characters of A-Z a-z 0-9 _ . : -', 'IDEMPOTENCY_KEY_FORMAT');
  }
  const policy = checkPolicy('policy', req.policy, now, v);
  const inline = req.inlineContent.length > 0 ? req.inlineContent : undefined;
  if (inline !== undefined) {
    if (inline.length > config.inlineMaxBytes) {
      v.add(
        'inline_content',
        `must be at most ${config.inlineMaxBytes} bytes; upload larger content`,
        'TOO_LARGE',
      );
    } else if (BigInt(inline.length) !== req.sizeBytes) {
      v.add(
        'inline_content',
        `has ${inline.length} bytes but size_bytes says ${req.sizeBytes}`,
        'SIZE_MISMATCH',
      );
    } else if (req.sha256.length === 32 && !sameDigest(inline, req.sha256)) {
      v.add('inline_content', 'does not have the declared sha256', 'DIGEST_MISMATCH');
    }
  }
  v.throwIfAny();
  return {
    recipients,
    subject,
    priority: req.priority === Priority.UNSPECIFIED ? Priority.NORMAL : req.priority,
    contentType,
    protocol: protocol!,
    sizeBytes: req.sizeBytes,
    sha256: req.sha256,
    idempotencyKey: key === '' ? undefined : key,
    policy,
    inlineContent: inline,
    requestDigest: requestDigest(req),
  };
}

function checkRecipients(parties: readonly Party[], v: Violations): PartyJson[] {
  if (parties.length === 0) v.add('recipients', 'name at least one unit or app', 'REQUIRED');
  if (parties.length > MAX_RECIPIENTS) v.add('recipients', `at most ${MAX_RECIPIENTS}`, 'TOO_MANY');
  const seen = new Set<string>();
  const out: PartyJson[] = [];
  parties.slice(0, MAX_RECIPIENTS).forEach((party, i) => {
    const field = `recipients[${i}]`;
    const p = party.party;
    let key: string | undefined;
    if (p.case === 'unitCode') {
      const code = normalizeUnitCode(p.value);
      if (!isUnitCode(code))
        v.add(`${field}.unit_code`, 'must be a unit code like 000.00.03.H26', 'UNIT_CODE_FORMAT');
      else {
        key = `u:${code}`;
        out.push({ unitCode: code });
      }
    } else if (p.case === 'appId') {
      if (!APP_ID.test(p.value)) v.add(`${field}.app_id`, 'must look like app_0123456789abcdef', 'ID_FORMAT');
      else {
        key = `a:${p.value}`;
        out.push({ appId: p.value });
      }
    } else v.add(field, 'must name a unit_code or an app_id', 'REQUIRED');
    if (key !== undefined) {
      if (seen.has(key)) v.add(field, 'is named twice', 'DUPLICATE');
      seen.add(key);
    }
  });
  return out;
}

export function checkSha256(field: string, digest: Uint8Array, v: Violations): void {
  if (digest.length !== 32) v.add(field, `must be 32 bytes, got ${digest.length}`, 'SHA256_FORMAT');
}

export function sameDigest(content: Uint8Array, sha256: Uint8Array): boolean {
  return Buffer.from(sha256).equals(createHash('sha256').update(content).digest());
}

/** An id of the transfer service, with a clear violation when it is not one. */
export function requiredId(field: string, raw: string, kind: IdKind): string {
  const v = new Violations();
  const id = raw.trim();
  if (id === '') v.add(field, 'is required', 'REQUIRED');
  else if (!isId(kind, id)) v.add(field, `must look like ${kind}_0123456789abcdef`, 'ID_FORMAT');
  v.throwIfAny();
  return id;
}

/** The request as an idempotent retry must repeat it; the content itself is covered by its digest. */
function requestDigest(req: CreateTransferRequest): string {
  const comparable = create(CreateTransferRequestSchema, { ...req, inlineContent: new Uint8Array() });
  return createHash('sha256').update(toBinary(CreateTransferRequestSchema, comparable)).digest('hex');
}
