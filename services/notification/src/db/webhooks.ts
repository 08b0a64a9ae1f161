/** Queries of webhooks, of the notices waiting for them (deliveries) and of their attempts. */
import { type Selectable, sql } from 'kysely';
import { newId } from '../domain/ids.js';
import type { ParkedReasonName } from '../domain/webhook-retry.js';
import type { Db } from './notices.js';
import type {
  AttemptOutcomeName,
  NoticeKindName,
  WebhookAttemptTable,
  WebhookStateName,
  WebhookTable,
} from './schema.js';

export type WebhookRow = Selectable<WebhookTable>;
export type AttemptRow = Selectable<WebhookAttemptTable>;

export async function insertWebhook(
  db: Db,
  row: Omit<WebhookRow, 'consecutive_failures' | 'failing_since' | 'last_success_at'>,
): Promise<WebhookRow> {
  return db.insertInto('webhooks').values(row).returningAll().executeTakeFirstOrThrow();
}

export function findWebhook(db: Db, id: string): Promise<WebhookRow | undefined> {
  return db.selectFrom('webhooks').selectAll().where('id', '=', id).executeTakeFirst();
}

export function appWebhooks(db: Db, appId: string): Promise<WebhookRow[]> {
  return db.selectFrom('webhooks').selectAll().where('app_id', '=', appId).orderBy('created_at').execute();
}

export async function countAppWebhooks(db: Db, appId: string): Promise<number> {
  const row = await db
    .selectFrom('webhooks')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('app_id', '=', appId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export interface WebhookChange {
  readonly url?: string;
  readonly kinds?: NoticeKindName[];
  readonly state?: WebhookStateName;
}

/**
 * Applies a change; (re)activating clears the failure count and puts the
 * notices parked because the webhook was unavailable back in line.
 */
export async function updateWebhook(db: Db, id: string, change: WebhookChange): Promise<WebhookRow> {
  return db.transaction().execute(async (trx) => {
    const before = await trx
      .selectFrom('webhooks')
      .select('state')
      .where('id', '=', id)
      .forUpdate()
      .executeTakeFirstOrThrow();
    const reactivated = change.state === 'active' && before.state !== 'active';
    const row = await trx
      .updateTable('webhooks')
      .set({
        ...change,
        ...(reactivated ? { consecutive_failures: 0, failing_since: null } : {}),
        updated_at: new Date(),
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
    if (reactivated) await requeueParked(trx, id, { reason: 'webhook_unavailable' });
    return row;
  });
}

export async function deleteWebhook(db: Db, id: string): Promise<boolean> {
  const result = await db.deleteFrom('webhooks').where('id', '=', id).executeTakeFirst();
  return result.numDeletedRows > 0n;
}

/**
 * Queues the new notices for every active or paused webhook of their app that
 * takes their kind, in the transaction that creates them. A paused webhook's
 * deliveries wait until it is active again.
 */
export async function queueDeliveries(trx: Db, noticeIds: readonly string[], now: Date): Promise<number> {
  if (noticeIds.length === 0) return 0;
  const result = await trx
    .insertInto('webhook_deliveries')
    .columns(['webhook_id', 'notice_id', 'notice_kind', 'next_attempt_at'])
    .expression((eb) =>
      eb
        .selectFrom('notices as n')
        .innerJoin('webhooks as w', 'w.app_id', 'n.app_id')
        .select(['w.id', 'n.id', 'n.kind', sql<Date>`${now}::timestamptz`.as('at')])
        .where('n.id', 'in', noticeIds)
        .where('w.state', 'in', ['active', 'paused'])
        .where((w) => w.or([sql<boolean>`cardinality(w.kinds) = 0`, sql<boolean>`n.kind = any(w.kinds)`])),
    )
    .onConflict((oc) => oc.columns(['webhook_id', 'notice_id']).doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0n);
}

/** A delivery taken by one replica, with what its call needs. */
export interface ClaimedDelivery {
  readonly id: number;
  readonly webhook_id: string;
  readonly notice_id: string;
  readonly notice_kind: NoticeKindName;
  readonly attempts: number;
  readonly app_id: string;
  readonly url: string;
  readonly secret_sealed: Uint8Array;
  /** Null when the notice is gone (expired and swept). */
  readonly payload: Uint8Array | null;
  readonly expire_at: Date | null;
  readonly acked_at: Date | null;
}

/**
 * Takes up to `limit` due deliveries of active webhooks, skipping those
 * another replica holds, and pushes their due time past `leaseMs`: if this
 * replica dies while calling, another takes them then.
 */
export async function claimDue(db: Db, limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
  const now = new Date();
  const claimed = await db
    .with('due', (qb) =>
      qb
        .selectFrom('webhook_deliveries as d')
        .innerJoin('webhooks as w', (j) => j.onRef('w.id', '=', 'd.webhook_id').on('w.state', '=', 'active'))
        .select('d.id')
        .where('d.state', '=', 'pending')
        .where('d.next_attempt_at', '<=', now)
        .orderBy('d.next_attempt_at')
        .orderBy('d.id')
        .limit(limit)
        .forUpdate('d')
        .skipLocked(),
    )
    .updateTable('webhook_deliveries')
    .set({ next_attempt_at: new Date(now.getTime() + leaseMs) })
    .where('id', 'in', (eb) => eb.selectFrom('due').select('due.id'))
    .returning('id')
    .execute();
  if (claimed.length === 0) return [];
  return db
    .selectFrom('webhook_deliveries as d')
    .innerJoin('webhooks as w', 'w.id', 'd.webhook_id')
    .leftJoin('notices as n', 'n.id', 'd.notice_id')
    .select([
      'd.id',
      'd.webhook_id',
      'd.notice_id',
      'd.notice_kind',
      'd.attempts',
      'w.app_id',
      'w.url',
      'w.secret_sealed',
      'n.payload',
      'n.expire_at',
      'n.acked_at',
    ])
    .where(
      'd.id',
      'in',
      claimed.map((r) => r.id),
    )
    .orderBy('d.next_attempt_at')
    .orderBy('d.id')
    .execute();
}

/** How one claimed delivery ended this time. */
export type DeliveryOutcome =
  | { readonly kind: 'skipped' }
  | {
      readonly kind: 'attempt';
      readonly attempt: Omit<AttemptRow, 'id' | 'webhook_id' | 'notice_id'>;
      /** Whether a call was made (counted in `attempts`). */
      readonly called: boolean;
    };

/** What the webhook learns from one call. */
export type WebhookHealth = 'answered' | 'failed' | 'unchanged';

/**
 * Records the outcome: the attempt, the delivery's new state, the webhook's
 * failure count (disabling it when it has failed for `disableAfterMs`), and
 * the notice acknowledged on success. Returns whether the webhook was
 * disabled now.
 */
export async function recordOutcome(
  db: Db,
  delivery: Pick<ClaimedDelivery, 'id' | 'webhook_id' | 'notice_id'>,
  outcome: DeliveryOutcome,
  health: WebhookHealth,
  attemptId: string,
  disableAfterMs: number,
): Promise<{ disabled: boolean }> {
  return db.transaction().execute(async (trx) => {
    const now = new Date();
    if (outcome.kind === 'skipped') {
      await trx
        .updateTable('webhook_deliveries')
        .set({ state: 'skipped', updated_at: now })
        .where('id', '=', delivery.id)
        .execute();
      return { disabled: false };
    }
    const { attempt } = outcome;
    await trx
      .insertInto('webhook_attempts')
      .values({ id: attemptId, webhook_id: delivery.webhook_id, notice_id: delivery.notice_id, ...attempt })
      .execute();
    await trx
      .updateTable('webhook_deliveries')
      .set((eb) => ({
        state: DELIVERY_STATE_OF[attempt.outcome],
        attempts: outcome.called ? eb('attempts', '+', 1) : eb.ref('attempts'),
        next_attempt_at: attempt.next_attempt_at ?? now,
        parked_reason: attempt.parked_reason,
        updated_at: now,
      }))
      .where('id', '=', delivery.id)
      .execute();
    if (health === 'answered') {
      await trx
        .updateTable('webhooks')
        .set({ consecutive_failures: 0, failing_since: null, last_success_at: now })
        .where('id', '=', delivery.webhook_id)
        .execute();
      await trx
        .updateTable('notices')
        .set({ acked_at: now })
        .where('id', '=', delivery.notice_id)
        .where('acked_at', 'is', null)
        .execute();
      return { disabled: false };
    }
    if (health === 'failed') {
      const row = await trx
        .updateTable('webhooks')
        .set((eb) => ({
          consecutive_failures: eb('consecutive_failures', '+', 1),
          failing_since: sql<Date>`coalesce(failing_since, ${now}::timestamptz)`,
          state: sql<WebhookStateName>`case when state = 'active' and coalesce(failing_since, ${now}::timestamptz) <= ${new Date(now.getTime() - disableAfterMs)}::timestamptz then 'disabled' else state end`,
          updated_at: now,
        }))
        .where('id', '=', delivery.webhook_id)
        .returning(['state'])
        .executeTakeFirst();
      if (row?.state === 'disabled') {
        await parkAllPending(trx, delivery.webhook_id, now);
        return { disabled: true };
      }
    }
    return { disabled: false };
  });
}

const DELIVERY_STATE_OF = {
  succeeded: 'succeeded',
  retrying: 'pending',
  parked: 'parked',
} as const satisfies Record<AttemptOutcomeName, string>;

/**
 * A disabled webhook's waiting notices are parked (WEBHOOK_UNAVAILABLE), each
 * with an attempt row saying so; re-enabling the webhook puts them back.
 */
async function parkAllPending(trx: Db, webhookId: string, now: Date): Promise<void> {
  const parked = await trx
    .updateTable('webhook_deliveries')
    .set({ state: 'parked', parked_reason: 'webhook_unavailable', updated_at: now })
    .where('webhook_id', '=', webhookId)
    .where('state', '=', 'pending')
    .returning(['notice_id', 'notice_kind', 'attempts'])
    .execute();
  if (parked.length === 0) return;
  await trx
    .insertInto('webhook_attempts')
    .values(
      parked.map((p) => ({
        id: newId('wha'),
        webhook_id: webhookId,
        notice_id: p.notice_id,
        notice_kind: p.notice_kind,
        attempt: p.attempts + 1,
        attempted_at: now,
        outcome: 'parked' as const,
        http_status: 0,
        error: 'not sent: the webhook was disabled after failing continuously',
        latency_ms: 0,
        next_attempt_at: null,
        parked_reason: 'webhook_unavailable' as const,
      })),
    )
    .execute();
}

/**
 * Puts parked deliveries of a webhook back in line (all, those of `noticeIds`,
 * or those parked for `reason`) if their notice has not expired. Returns how many.
 */
export async function requeueParked(
  db: Db,
  webhookId: string,
  filter: { readonly noticeIds?: readonly string[]; readonly reason?: ParkedReasonName },
): Promise<number> {
  const now = new Date();
  let query = db
    .updateTable('webhook_deliveries')
    .set({ state: 'pending', attempts: 0, next_attempt_at: now, parked_reason: null, updated_at: now })
    .where('webhook_id', '=', webhookId)
    .where('state', '=', 'parked')
    .where((eb) =>
      eb.exists(
        eb
          .selectFrom('notices as n')
          .select('n.id')
          .whereRef('n.id', '=', 'webhook_deliveries.notice_id')
          .where('n.expire_at', '>', now),
      ),
    );
  if (filter.noticeIds !== undefined && filter.noticeIds.length > 0) {
    query = query.where('notice_id', 'in', filter.noticeIds);
  }
  if (filter.reason !== undefined) query = query.where('parked_reason', '=', filter.reason);
  const result = await query.executeTakeFirst();
  return Number(result.numUpdatedRows);
}

export interface AttemptQuery {
  readonly webhookId: string;
  readonly outcome?: AttemptOutcomeName;
  readonly noticeId?: string;
  readonly offset: number;
  readonly limit: number;
}

/** Attempts of a webhook, newest first. */
export function listAttempts(db: Db, q: AttemptQuery): Promise<AttemptRow[]> {
  let query = db.selectFrom('webhook_attempts').selectAll().where('webhook_id', '=', q.webhookId);
  if (q.outcome !== undefined) query = query.where('outcome', '=', q.outcome);
  if (q.noticeId !== undefined) query = query.where('notice_id', '=', q.noticeId);
  return query
    .orderBy('attempted_at', 'desc')
    .orderBy('id', 'desc')
    .offset(q.offset)
    .limit(q.limit)
    .execute();
}

/** Deletes finished deliveries and attempts older than `before`, a batch at a time; returns how many. */
export async function deleteOldWebhookRecords(db: Db, before: Date, limit: number): Promise<number> {
  const deliveries = await db
    .deleteFrom('webhook_deliveries')
    .where(
      'id',
      'in',
      db
        .selectFrom('webhook_deliveries')
        .select('id')
        .where('state', '<>', 'pending')
        .where('updated_at', '<', before)
        .limit(limit),
    )
    .executeTakeFirst();
  const attempts = await db
    .deleteFrom('webhook_attempts')
    .where(
      'id',
      'in',
      db.selectFrom('webhook_attempts').select('id').where('attempted_at', '<', before).limit(limit),
    )
    .executeTakeFirst();
  return Number(deliveries.numDeletedRows) + Number(attempts.numDeletedRows);
}
