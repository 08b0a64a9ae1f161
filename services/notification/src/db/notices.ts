/** Queries of notices and of the per-app sequence counters. */
import { type Kysely, sql } from 'kysely';
import type { NoticeRow } from './rows.js';
import type { NoticeKindName, NotificationDatabase } from './schema.js';

export type Db = Kysely<NotificationDatabase>;

/**
 * Takes the counter row of each app (creating it at 0) and keeps it locked
 * until the transaction ends; returns each app's last sequence. Rows are
 * taken in app id order, so two transactions never wait on each other in a
 * cycle. While the lock is held no other transaction can number a notice of
 * these apps: sequences are given, and committed, in order.
 */
export async function lockCounters(trx: Db, appIds: readonly string[]): Promise<Map<string, bigint>> {
  const sorted = [...new Set(appIds)].sort();
  if (sorted.length === 0) return new Map();
  const rows = await trx
    .insertInto('notice_counters')
    .values(sorted.map((app_id) => ({ app_id, last_sequence: 0 })))
    // The no-op update locks an existing row and returns its value.
    .onConflict((oc) =>
      oc.column('app_id').doUpdateSet({ last_sequence: (eb) => eb.ref('notice_counters.last_sequence') }),
    )
    .returning(['app_id', 'last_sequence'])
    .execute();
  return new Map(rows.map((r) => [r.app_id, BigInt(r.last_sequence)]));
}

/** Sets the counters of apps whose rows this transaction locked, in one statement. */
export async function setCounters(trx: Db, last: ReadonlyMap<string, bigint>): Promise<void> {
  const entries = [...last];
  const [first, ...rest] = entries;
  if (first === undefined) return;
  await trx
    .updateTable('notice_counters')
    .set((eb) => {
      let value = eb.case().when('app_id', '=', first[0]).then(Number(first[1]));
      for (const [appId, sequence] of rest) value = value.when('app_id', '=', appId).then(Number(sequence));
      return { last_sequence: value.else(eb.ref('last_sequence')).end() };
    })
    .where(
      'app_id',
      'in',
      entries.map(([appId]) => appId),
    )
    .execute();
}

/** Which of these (app, dedup key) pairs already have a notice. */
export async function existingDedupKeys(
  trx: Db,
  pairs: ReadonlyArray<{ readonly appId: string; readonly dedupKey: string }>,
): Promise<Set<string>> {
  if (pairs.length === 0) return new Set();
  const rows = await trx
    .selectFrom('notices')
    .select(['app_id', 'dedup_key'])
    .where('app_id', 'in', [...new Set(pairs.map((p) => p.appId))])
    .where('dedup_key', 'in', [...new Set(pairs.map((p) => p.dedupKey))])
    .execute();
  return new Set(rows.map((r) => dedupPair(r.app_id, r.dedup_key ?? '')));
}

export const dedupPair = (appId: string, dedupKey: string): string => `${appId}\u0000${dedupKey}`;

export interface NewNoticeRow {
  readonly id: string;
  readonly app_id: string;
  readonly sequence: bigint;
  readonly kind: NoticeKindName;
  readonly priority: number;
  readonly payload: Uint8Array;
  readonly dedup_key: string | null;
  readonly created_at: Date;
  readonly expire_at: Date;
}

export async function insertNotices(trx: Db, rows: readonly NewNoticeRow[]): Promise<void> {
  if (rows.length === 0) return;
  await trx
    .insertInto('notices')
    .values(rows.map((r) => ({ ...r, sequence: Number(r.sequence), acked_at: null })))
    .execute();
}

export interface NoticeQuery {
  readonly appId: string;
  /** Only sequences above this. */
  readonly after: bigint;
  /** Only sequences below this. */
  readonly before?: bigint;
  /** Only these kinds; empty for all. */
  readonly kinds: readonly NoticeKindName[];
  readonly limit: number;
}

/** Unacknowledged, unexpired notices of an app in sequence order. */
export async function unackedNotices(db: Db, q: NoticeQuery): Promise<NoticeRow[]> {
  let query = db
    .selectFrom('notices')
    .selectAll()
    .where('app_id', '=', q.appId)
    .where('acked_at', 'is', null)
    .where('sequence', '>', Number(q.after))
    .where('expire_at', '>', sql<Date>`now()`);
  if (q.before !== undefined) query = query.where('sequence', '<', Number(q.before));
  if (q.kinds.length > 0) query = query.where('kind', 'in', [...q.kinds]);
  return query.orderBy('sequence').limit(q.limit).execute();
}

export interface NoticeCounts {
  /** The highest sequence given to the app's notices; 0 when it has none. */
  readonly latest: bigint;
  /** Notices not acknowledged and not expired. */
  readonly unacked: number;
}

export async function noticeCounts(db: Db, appId: string): Promise<NoticeCounts> {
  const row = await db
    .selectNoFrom((eb) => [
      eb.selectFrom('notice_counters').select('last_sequence').where('app_id', '=', appId).as('latest'),
      eb
        .selectFrom('notices')
        .select((e) => e.fn.countAll<string>().as('n'))
        .where('app_id', '=', appId)
        .where('acked_at', 'is', null)
        .where('expire_at', '>', sql<Date>`now()`)
        .as('unacked'),
    ])
    .executeTakeFirstOrThrow();
  return { latest: BigInt(row.latest ?? 0), unacked: Number(row.unacked ?? 0) };
}

/**
 * Acknowledges the app's own notices named by id, and every one up to
 * `upTo` (when above 0); returns how many were newly acknowledged. Ids of
 * other apps' notices match nothing.
 */
export async function ackNotices(
  db: Db,
  appId: string,
  ids: readonly string[],
  upTo: bigint,
): Promise<number> {
  if (ids.length === 0 && upTo <= 0n) return 0;
  const result = await db
    .updateTable('notices')
    .set({ acked_at: sql<Date>`now()` })
    .where('app_id', '=', appId)
    .where('acked_at', 'is', null)
    .where((eb) => {
      const which = [];
      if (ids.length > 0) which.push(eb('id', 'in', [...ids]));
      if (upTo > 0n) which.push(eb('sequence', '<=', Number(upTo)));
      return eb.or(which);
    })
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** Deletes up to `limit` notices past their expire time; returns how many. */
export async function deleteExpired(db: Db, now: Date, limit: number): Promise<number> {
  const result = await db
    .deleteFrom('notices')
    .where('id', 'in', db.selectFrom('notices').select('id').where('expire_at', '<=', now).limit(limit))
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
