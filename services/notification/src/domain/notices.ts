/**
 * The one way notices come into being (Art. 4.5), whoever produces them: the
 * consumers of transfer and credential events, SendNotice, presence (the
 * offline-too-long warning) and webhooks. In the caller's transaction each
 * notice gets the next sequence of its app, is stored, and its fan-out event
 * is put in the outbox; so a notice exists exactly when its event will be
 * published, and an app's sequences have no gaps.
 *
 * The notices are queued for their app's webhooks in the same transaction.
 * Call `noticesCommitted(ctx)` after it commits, so neither the fan-out nor
 * the webhook calls wait for their next pass.
 */
import { create, type MessageInitShape, toBinary } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { Priority } from '#gen/lgsp/common/v1/common_pb.js';
import { type Notice, NoticeKind, NoticeSchema } from '#gen/lgsp/notification/v1/resources_pb.js';
import type { NotificationConfig } from '../config.js';
import { emitNoticeEvents } from '../db/events.js';
import {
  type Db,
  dedupPair,
  existingDedupKeys,
  insertNotices,
  lockCounters,
  type NewNoticeRow,
  setCounters,
} from '../db/notices.js';
import { noticeKinds } from '../db/rows.js';
import { queueDeliveries } from '../db/webhooks.js';
import { APP_ID, newId } from './ids.js';

/** What a notice says: one case of Notice.payload; the kind follows from it. */
export type NoticePayloadInit = Exclude<
  NonNullable<MessageInitShape<typeof NoticeSchema>['payload']>,
  { case: undefined }
>;

export interface NoticeDraft {
  /** The receiving app (`app_` and 16 hex digits). */
  readonly appId: string;
  readonly payload: NoticePayloadInit;
  /** For NEW_DELIVERY the transfer's; unspecified otherwise. */
  readonly priority?: Priority;
  /** When it is dropped if never acknowledged; default now + LGSP_NOTICE_TTL_SECONDS. */
  readonly expireAt?: Date;
  /**
   * What the notice comes from, e.g. the id of the event that caused it: a
   * second draft with the same key for the same app creates nothing, so a
   * redelivered event is harmless. At most 200 characters.
   */
  readonly dedupKey?: string;
}

/** What `createNotices` needs of the service's context. */
export interface NoticeWriterContext {
  readonly config: Pick<NotificationConfig, 'busPrefix' | 'noticeTtlSeconds'>;
}

const KIND_OF_CASE: Readonly<Record<NoticePayloadInit['case'], NoticeKind>> = {
  newDelivery: NoticeKind.NEW_DELIVERY,
  transferStatus: NoticeKind.TRANSFER_STATUS,
  destinationOffline: NoticeKind.DESTINATION_OFFLINE,
  credentialExpiring: NoticeKind.CREDENTIAL_EXPIRING,
  appMessage: NoticeKind.APP_MESSAGE,
};

const MAX_DEDUP_KEY = 200;

/**
 * Creates the notices of `drafts` in `trx` and returns them, in draft order.
 * A draft whose (app, dedup key) already has a notice, or repeats an earlier
 * draft's, is skipped: it is not in the result.
 *
 * Throws a plain Error for a malformed draft (a programming error, not a
 * client's): nothing is written then, as the caller's transaction rolls back.
 */
export async function createNotices(
  ctx: NoticeWriterContext,
  trx: Db,
  drafts: readonly NoticeDraft[],
): Promise<Notice[]> {
  if (drafts.length === 0) return [];
  drafts.forEach(checkDraft);
  // The counters first: with their rows locked, a concurrent writer of the same
  // key waits here, then sees the notice this one committed.
  const last = await lockCounters(
    trx,
    drafts.map((d) => d.appId),
  );
  const keyed = drafts.filter((d) => d.dedupKey !== undefined);
  const seen = await existingDedupKeys(
    trx,
    keyed.map((d) => ({ appId: d.appId, dedupKey: d.dedupKey! })),
  );

  const now = new Date();
  const defaultExpiry = new Date(now.getTime() + ctx.config.noticeTtlSeconds * 1000);
  const rows: NewNoticeRow[] = [];
  const notices: Notice[] = [];
  const changed = new Map<string, bigint>();
  for (const draft of drafts) {
    if (draft.dedupKey !== undefined) {
      const pair = dedupPair(draft.appId, draft.dedupKey);
      if (seen.has(pair)) continue;
      seen.add(pair);
    }
    const sequence = (changed.get(draft.appId) ?? last.get(draft.appId) ?? 0n) + 1n;
    changed.set(draft.appId, sequence);
    const kind = KIND_OF_CASE[draft.payload.case];
    const priority = draft.priority ?? Priority.UNSPECIFIED;
    const expireAt = draft.expireAt ?? defaultExpiry;
    const notice = create(NoticeSchema, {
      id: newId('ntc'),
      sequence,
      appId: draft.appId,
      kind,
      priority,
      createTime: timestampFromDate(now),
      expireTime: timestampFromDate(expireAt),
      payload: draft.payload,
    });
    const payload = toBinary(NoticeSchema, notice);
    rows.push({
      id: notice.id,
      app_id: draft.appId,
      sequence,
      kind: noticeKinds.fromProto(kind)!,
      priority,
      payload,
      dedup_key: draft.dedupKey ?? null,
      created_at: now,
      expire_at: expireAt,
    });
    notices.push(notice);
  }
  if (rows.length === 0) return [];
  await setCounters(trx, changed);
  await insertNotices(trx, rows);
  await emitNoticeEvents(
    trx,
    ctx.config.busPrefix,
    rows.map((r) => ({ appId: r.app_id, id: r.id, payload: r.payload })),
  );
  await queueDeliveries(
    trx,
    rows.map((r) => r.id),
    now,
  );
  return notices;
}

/** After the transaction that created notices commits: their events are published and their webhooks called now. */
export function noticesCommitted(ctx: {
  readonly outbox: { wake(): void };
  readonly webhooks: { wake(): void };
}): void {
  ctx.outbox.wake();
  ctx.webhooks.wake();
}

function checkDraft(draft: NoticeDraft): void {
  if (!APP_ID.test(draft.appId)) throw new Error(`notice draft: "${draft.appId}" is not an app id`);
  if (!(draft.payload.case in KIND_OF_CASE)) {
    throw new Error(`notice draft for ${draft.appId}: unknown payload "${String(draft.payload.case)}"`);
  }
  if (draft.priority !== undefined && !(draft.priority in Priority)) {
    throw new Error(`notice draft for ${draft.appId}: unknown priority ${draft.priority}`);
  }
  const key = draft.dedupKey;
  if (key !== undefined && (key === '' || key.length > MAX_DEDUP_KEY)) {
    throw new Error(`notice draft for ${draft.appId}: a dedup key has 1 to ${MAX_DEDUP_KEY} characters`);
  }
  if (draft.expireAt !== undefined && Number.isNaN(draft.expireAt.getTime())) {
    throw new Error(`notice draft for ${draft.appId}: invalid expire time`);
  }
}
