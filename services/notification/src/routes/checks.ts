/**
 * Request checks of the notification service, one function per RPC, run
 * before any side effect. Each collects every problem and throws one
 * InvalidArgument naming the fields.
 */

import type { Duration, Timestamp } from '@bufbuild/protobuf/wkt';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import type { Party } from '#gen/lgsp/common/v1/common_pb.js';
import type {
  AckNoticesRequest,
  ListNoticesRequest,
  SendNoticeRequest,
  SubscribeRequest,
} from '#gen/lgsp/notification/v1/notification_service_pb.js';
import type { NoticeKind } from '#gen/lgsp/notification/v1/resources_pb.js';
import { isUnitCode, normalizeUnitCode } from '#lib/domain/unit-code.js';
import { Violations } from '#lib/errors.js';
import { noticeKinds } from '../db/rows.js';
import type { NoticeKindName } from '../db/schema.js';
import { APP_ID, isId } from '../domain/ids.js';

export const HEARTBEAT_DEFAULT_SECONDS = 30;
export const HEARTBEAT_MIN_SECONDS = 5;
export const HEARTBEAT_MAX_SECONDS = 120;
export const LIST_DEFAULT_PAGE = 100;
export const LIST_MAX_PAGE = 500;
export const ACK_MAX_IDS = 1000;
export const MESSAGE_MAX_BODY_BYTES = 64 * 1024;
export const MESSAGE_MAX_TOPIC = 200;
export const MESSAGE_DEFAULT_TTL_SECONDS = 24 * 3600;
export const MESSAGE_MIN_TTL_SECONDS = 60;
export const MESSAGE_MAX_TTL_SECONDS = 30 * 24 * 3600;

const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}(\s*;.*)?$/i;
const UINT64_MAX = 2n ** 64n - 1n;
/** 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the range a Timestamp may hold. */
const TIMESTAMP_MIN_SECONDS = -62_135_596_800n;
const TIMESTAMP_MAX_SECONDS = 253_402_300_799n;

export interface SubscribeInput {
  readonly after: bigint;
  /** Wanted kinds; empty for all. */
  readonly kinds: readonly NoticeKindName[];
  readonly heartbeatMs: number;
  readonly clientTime: Date | undefined;
}

export function checkSubscribe(req: SubscribeRequest): SubscribeInput {
  const v = new Violations();
  const kinds = checkKinds(req.kinds, v);
  const heartbeat = durationSeconds('heartbeat_interval', req.heartbeatInterval, v);
  if (
    heartbeat !== undefined &&
    !(heartbeat >= HEARTBEAT_MIN_SECONDS && heartbeat <= HEARTBEAT_MAX_SECONDS)
  ) {
    v.add(
      'heartbeat_interval',
      `must be between ${HEARTBEAT_MIN_SECONDS} and ${HEARTBEAT_MAX_SECONDS} seconds`,
      'OUT_OF_RANGE',
    );
  }
  const clientTime = timestamp('client_time', req.clientTime, v);
  v.throwIfAny();
  return {
    after: req.afterSequence,
    kinds,
    heartbeatMs: Math.round((heartbeat ?? HEARTBEAT_DEFAULT_SECONDS) * 1000),
    clientTime,
  };
}

export interface ListNoticesInput {
  readonly after: bigint;
  readonly kinds: readonly NoticeKindName[];
  readonly pageSize: number;
}

export function checkListNotices(req: ListNoticesRequest): ListNoticesInput {
  const v = new Violations();
  const kinds = checkKinds(req.kinds, v);
  if (req.pageSize < 0 || req.pageSize > LIST_MAX_PAGE) {
    v.add('page_size', `must be between 0 and ${LIST_MAX_PAGE}`, 'PAGE_SIZE_RANGE');
  }
  v.throwIfAny();
  return { after: req.afterSequence, kinds, pageSize: req.pageSize === 0 ? LIST_DEFAULT_PAGE : req.pageSize };
}

export interface AckNoticesInput {
  readonly ids: readonly string[];
  /** 0 for none. */
  readonly upTo: bigint;
}

export function checkAckNotices(req: AckNoticesRequest): AckNoticesInput {
  const v = new Violations();
  if (req.noticeIds.length === 0 && req.upToSequence === 0n) {
    v.add('notice_ids', 'name notices to acknowledge, or set up_to_sequence', 'REQUIRED');
  }
  if (req.noticeIds.length > ACK_MAX_IDS) {
    v.add('notice_ids', `at most ${ACK_MAX_IDS} at once; use up_to_sequence for more`, 'TOO_MANY');
  }
  req.noticeIds.slice(0, ACK_MAX_IDS).forEach((id, i) => {
    if (!isId('ntc', id)) v.add(`notice_ids[${i}]`, 'must look like ntc_0123456789abcdef', 'ID_FORMAT');
  });
  v.throwIfAny();
  return { ids: [...new Set(req.noticeIds)], upTo: req.upToSequence };
}

export interface SendNoticeInput {
  readonly recipient: Party;
  /** How the recipient is named in messages: its app id or unit code. */
  readonly recipientName: string;
  readonly topic: string;
  readonly contentType: string;
  readonly body: Uint8Array;
  readonly ttlSeconds: number;
}

export function checkSendNotice(req: SendNoticeRequest): SendNoticeInput {
  const v = new Violations();
  const party = req.recipient?.party;
  let recipientName = '';
  let recipient: Party | undefined;
  if (party?.case === 'appId') {
    if (!APP_ID.test(party.value))
      v.add('recipient.app_id', 'must look like app_0123456789abcdef', 'ID_FORMAT');
    recipientName = party.value;
    recipient = req.recipient;
  } else if (party?.case === 'unitCode') {
    const code = normalizeUnitCode(party.value);
    if (!isUnitCode(code))
      v.add('recipient.unit_code', 'must be a unit code like 000.00.03.H26', 'UNIT_CODE_FORMAT');
    recipientName = code;
    recipient = { ...req.recipient!, party: { case: 'unitCode', value: code } };
  } else {
    v.add('recipient', 'name an app_id or a unit_code', 'REQUIRED');
  }
  const topic = req.topic.trim();
  if (topic === '') v.add('topic', 'is required', 'REQUIRED');
  else if ([...topic].length > MESSAGE_MAX_TOPIC)
    v.add('topic', `must be at most ${MESSAGE_MAX_TOPIC} characters`, 'TOO_LONG');
  const contentType = req.contentType.trim().toLowerCase();
  if (contentType === '') {
    if (req.body.length > 0) v.add('content_type', 'is required with a body', 'REQUIRED');
  } else if (contentType.length > 255 || !MEDIA_TYPE.test(contentType)) {
    v.add('content_type', 'must be a media type like application/json', 'MEDIA_TYPE_FORMAT');
  }
  if (req.body.length > MESSAGE_MAX_BODY_BYTES) {
    v.add(
      'body',
      `must be at most ${MESSAGE_MAX_BODY_BYTES} bytes, got ${req.body.length}; send larger content as a transfer`,
      'TOO_LARGE',
    );
  }
  const ttl = durationSeconds('ttl', req.ttl, v);
  if (ttl !== undefined && !(ttl >= MESSAGE_MIN_TTL_SECONDS && ttl <= MESSAGE_MAX_TTL_SECONDS)) {
    v.add('ttl', 'must be between 1 minute and 30 days', 'OUT_OF_RANGE');
  }
  v.throwIfAny();
  return {
    recipient: recipient!,
    recipientName,
    topic,
    contentType,
    body: req.body,
    ttlSeconds: ttl ?? MESSAGE_DEFAULT_TTL_SECONDS,
  };
}

export function checkKinds(kinds: readonly NoticeKind[], v: Violations): NoticeKindName[] {
  const out = new Set<NoticeKindName>();
  kinds.forEach((kind, i) => {
    const name = noticeKinds.fromProto(kind);
    if (name === undefined) v.add(`kinds[${i}]`, 'is not a notice kind', 'UNKNOWN_KIND');
    else out.add(name);
  });
  return [...out];
}

/** The duration in seconds, or undefined when unset; a malformed one is a violation. */
function durationSeconds(field: string, d: Duration | undefined, v: Violations): number | undefined {
  if (d === undefined) return undefined;
  const validNanos = d.nanos > -1_000_000_000 && d.nanos < 1_000_000_000;
  const sameSign = d.seconds === 0n || d.nanos === 0 || d.seconds > 0n === d.nanos > 0;
  if (!validNanos || !sameSign || d.seconds > UINT64_MAX / 2n || -d.seconds > UINT64_MAX / 2n) {
    v.add(field, 'is not a valid duration', 'DURATION_FORMAT');
    return undefined;
  }
  return Number(d.seconds) + d.nanos / 1e9;
}

/** A timestamp field, checked to lie within the range protobuf allows. */
export function timestamp(field: string, t: Timestamp | undefined, v: Violations): Date | undefined {
  if (t === undefined) return undefined;
  if (
    t.nanos < 0 ||
    t.nanos > 999_999_999 ||
    t.seconds < TIMESTAMP_MIN_SECONDS ||
    t.seconds > TIMESTAMP_MAX_SECONDS
  ) {
    v.add(field, 'is not a valid timestamp', 'TIMESTAMP_FORMAT');
    return undefined;
  }
  return timestampDate(t);
}
