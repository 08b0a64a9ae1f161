/**
 * The audit log's store: appends (serialised on the chain row), the retention
 * sweep, the chain check and the administrators' reads.
 *
 * Why a lock row: every append reads the head of the chain and writes the
 * next links, so two writers must never interleave. Each appending
 * transaction takes `select … for update` on the single `audit_chain` row
 * first; a second replica's batch waits for the first to commit and then
 * continues from the new head. The chain stays linear however many replicas
 * consume, and batching keeps the lock's cost to one round trip per batch.
 */
import { type Kysely, sql, type Transaction } from 'kysely';
import {
  type AuditEventFields,
  type ChainBreak,
  type ChainedFields,
  ChainWalker,
  entryHash,
} from '../domain/audit-chain.js';
import type { AuditChainTable, AuditLogTable, AuthDatabase } from './schema.js';

type Db = Kysely<AuthDatabase>;

/** Rows per INSERT statement (21 parameters each, well under the protocol's limit). */
const INSERT_CHUNK = 500;

async function lockChain(trx: Transaction<AuthDatabase>): Promise<AuditChainTable> {
  return trx.selectFrom('audit_chain').selectAll().where('id', '=', 1).forUpdate().executeTakeFirstOrThrow();
}

/**
 * Appends the events not in the log yet, in the order given, after the
 * current head; returns how many were new. An event id already present (a
 * redelivery) is skipped, so appending is idempotent.
 */
export async function appendAuditEvents(db: Db, events: readonly AuditEventFields[]): Promise<number> {
  if (events.length === 0) return 0;
  return db.transaction().execute(async (trx) => {
    const chain = await lockChain(trx);
    const ids = [...new Set(events.map((e) => e.event_id))];
    const present = new Set<string>();
    for (let i = 0; i < ids.length; i += 1000) {
      const rows = await trx
        .selectFrom('audit_log')
        .select('event_id')
        .where('event_id', 'in', ids.slice(i, i + 1000))
        .execute();
      for (const r of rows) present.add(r.event_id);
    }
    let seq = chain.head_seq;
    let previous = chain.head_hash;
    // One clock reading after the lock: record times follow the sequence.
    const recordTime = new Date();
    const rows: ChainedFields[] = [];
    for (const event of events) {
      if (present.has(event.event_id)) continue;
      present.add(event.event_id);
      seq++;
      const fields = { ...event, seq, record_time: recordTime };
      const hash = entryHash(previous, fields);
      rows.push({ ...fields, prev_hash: previous, hash });
      previous = hash;
    }
    if (rows.length === 0) return 0;
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      await trx
        .insertInto('audit_log')
        .values(rows.slice(i, i + INSERT_CHUNK).map((r) => ({ ...r, actor_roles: [...r.actor_roles] })))
        .execute();
    }
    await trx
      .updateTable('audit_chain')
      .set({ head_seq: seq, head_hash: previous })
      .where('id', '=', 1)
      .execute();
    return rows.length;
  });
}

export interface PruneResult {
  readonly pruned: number;
  readonly anchorSeq: number;
}

/**
 * Removes the oldest entries recorded before `cutoff`, at most `maxRows` in
 * one pass. The anchor moves first to the last removed entry's sequence and
 * hash, so the kept chain still verifies from it (and the database's trigger
 * refuses to delete any row not behind the anchor).
 */
export async function pruneAuditLog(db: Db, cutoff: Date, maxRows = 10_000): Promise<PruneResult> {
  return db.transaction().execute(async (trx) => {
    const chain = await lockChain(trx);
    const firstKept = await trx
      .selectFrom('audit_log')
      .select('seq')
      .where('seq', '>', chain.anchor_seq)
      .where('record_time', '>=', cutoff)
      .orderBy('seq')
      .limit(1)
      .executeTakeFirst();
    const lastOld = Math.min(
      firstKept === undefined ? chain.head_seq : firstKept.seq - 1,
      chain.anchor_seq + maxRows,
    );
    if (lastOld <= chain.anchor_seq) return { pruned: 0, anchorSeq: chain.anchor_seq };
    // The last entry kept up to there (one may be missing, if the log was tampered with).
    const anchor = await trx
      .selectFrom('audit_log')
      .select(['seq', 'hash'])
      .where('seq', '<=', lastOld)
      .where('seq', '>', chain.anchor_seq)
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (anchor === undefined) return { pruned: 0, anchorSeq: chain.anchor_seq };
    await trx
      .updateTable('audit_chain')
      .set({ anchor_seq: anchor.seq, anchor_hash: anchor.hash, anchor_time: new Date() })
      .where('id', '=', 1)
      .execute();
    const deleted = await trx.deleteFrom('audit_log').where('seq', '<=', anchor.seq).executeTakeFirst();
    return { pruned: Number(deleted.numDeletedRows), anchorSeq: anchor.seq };
  });
}

export interface ChainReport {
  readonly checked: number;
  readonly anchor: Pick<AuditChainTable, 'anchor_seq' | 'anchor_hash' | 'anchor_time'>;
  readonly headSeq: number;
  readonly headHash: Uint8Array;
  readonly broken: ChainBreak | undefined;
}

/** Walks the whole kept chain in one consistent snapshot; names the first broken entry. */
export async function verifyAuditChain(db: Db, pageSize = 5_000): Promise<ChainReport> {
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      const chain = await trx
        .selectFrom('audit_chain')
        .selectAll()
        .where('id', '=', 1)
        .executeTakeFirstOrThrow();
      const walker = new ChainWalker(chain.anchor_seq, chain.anchor_hash);
      let after = chain.anchor_seq;
      for (;;) {
        const page = await trx
          .selectFrom('audit_log')
          .selectAll()
          .where('seq', '>', after)
          .orderBy('seq')
          .limit(pageSize)
          .execute();
        let going = true;
        for (const row of page) {
          going = walker.check(row);
          if (!going) break;
        }
        if (!going || page.length < pageSize) break;
        after = page[page.length - 1]!.seq;
      }
      return {
        checked: walker.checked,
        anchor: chain,
        headSeq: chain.head_seq,
        headHash: chain.head_hash,
        broken: walker.finish(chain.head_seq, chain.head_hash),
      };
    });
}

export interface AuditFilter {
  readonly from?: Date;
  readonly to?: Date;
  readonly actor?: string;
  readonly unitCode?: string;
  /** A full RPC name, or a service's full name for all its methods. */
  readonly action?: string;
  readonly outcome?: string;
  readonly requestId?: string;
}

/** Entries matching `filter`, newest first, below sequence `before` when given. */
export async function listAuditLog(
  db: Db,
  filter: AuditFilter,
  limit: number,
  before: number | undefined,
): Promise<AuditLogTable[]> {
  let q = db.selectFrom('audit_log').selectAll();
  if (before !== undefined) q = q.where('seq', '<', before);
  if (filter.from !== undefined) q = q.where('occur_time', '>=', filter.from);
  if (filter.to !== undefined) q = q.where('occur_time', '<', filter.to);
  if (filter.unitCode !== undefined) q = q.where('actor_unit_code', '=', filter.unitCode);
  if (filter.requestId !== undefined) q = q.where('request_id', '=', filter.requestId);
  if (filter.outcome !== undefined) q = q.where('outcome', '=', filter.outcome);
  const actor = filter.actor;
  if (actor !== undefined)
    q = q.where((eb) => eb.or([eb('actor_app_id', '=', actor), eb('actor_subject', '=', actor)]));
  const action = filter.action;
  if (action !== undefined) {
    q = action.includes('/')
      ? q.where('action', '=', action)
      : q.where(sql<boolean>`starts_with(action, ${`${action}/`})`);
  }
  return q.orderBy('seq', 'desc').limit(limit).execute();
}
