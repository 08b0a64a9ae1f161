/**
 * The transactional outbox: a state change and the event announcing it are
 * written in one Postgres transaction, and a relay publishes pending events to
 * JetStream afterwards. A crash between commit and publish loses nothing: the
 * row is still pending and is published on the next pass. The event id is the
 * JetStream `Nats-Msg-Id`, so a row published twice (crash after publish,
 * before marking) is dropped by the stream's duplicate window.
 *
 * Several replicas may relay at once: rows are claimed with
 * `FOR UPDATE SKIP LOCKED`, so each is published by one of them. One relay
 * publishes in commit order, but replicas relaying side by side interleave
 * their batches, and what failed to publish goes out on a later pass after
 * events that followed it: consumers order by what an event carries (a
 * sequence number, a state), never by arrival.
 */
import { randomUUID } from 'node:crypto';
import { context, propagation } from '@opentelemetry/api';
import { type Generated, type Kysely, sql } from 'kysely';
import type { Bus } from '../bus/bus.js';
import type { Logger } from '../logger.js';

export interface OutboxTable {
  id: string;
  seq: Generated<number>;
  subject: string;
  payload: Uint8Array;
  headers: Record<string, string>;
  created_at: Generated<Date>;
  published_at: Date | null;
}

export interface OutboxDatabase {
  outbox: OutboxTable;
}

/** The outbox table, as every service's first migration creates it. Frozen. */
export async function createOutboxTableV1(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('outbox')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('seq', 'bigserial', (c) => c.notNull().unique())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('payload', 'bytea', (c) => c.notNull())
    .addColumn('headers', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('published_at', 'timestamptz')
    .execute();
  await db.schema
    .createIndex('outbox_pending')
    .on('outbox')
    .column('seq')
    .where(sql.ref('published_at'), 'is', null)
    .execute();
}

export interface OutboxEvent {
  readonly subject: string;
  readonly payload: Uint8Array;
  readonly headers?: Readonly<Record<string, string>>;
}

/** Records an event in the caller's transaction; returns its id. */
export async function enqueueEvent<DB extends OutboxDatabase>(
  trx: Kysely<DB>,
  event: OutboxEvent,
): Promise<string> {
  const [id] = await enqueueEvents(trx, [event]);
  return id!;
}

/** Records events in the caller's transaction with one statement, published in this order; returns their ids. */
export async function enqueueEvents<DB extends OutboxDatabase>(
  trx: Kysely<DB>,
  events: readonly OutboxEvent[],
): Promise<string[]> {
  if (events.length === 0) return [];
  const rows = events.map((event) => {
    // The event continues the trace of the request that caused it (W3C traceparent in its headers).
    const headers: Record<string, string> = { ...(event.headers ?? {}) };
    propagation.inject(context.active(), headers);
    return {
      id: randomUUID(),
      subject: event.subject,
      payload: event.payload,
      headers: JSON.stringify(headers) as never,
      published_at: null,
    };
  });
  // One multi-row insert takes the `seq` values in the order of its rows.
  await (trx as unknown as Kysely<OutboxDatabase>).insertInto('outbox').values(rows).execute();
  return rows.map((r) => r.id);
}

export interface OutboxRelayOptions {
  readonly db: Kysely<OutboxDatabase>;
  readonly bus: Bus;
  readonly logger: Logger;
  /** Pause between passes when nothing is pending. Default 250 ms. */
  readonly idleMs?: number;
  /** Rows claimed per pass. Default 100. */
  readonly batchSize?: number;
  /** Published rows are deleted after this long. Default 24 h. */
  readonly retentionMs?: number;
}

export interface OutboxRelay {
  /** Runs a pass soon, e.g. right after a commit that enqueued an event. */
  wake(): void;
  /** Publishes everything pending now; resolves with the count. For tests and shutdown. */
  flush(): Promise<number>;
  stop(): Promise<void>;
}

export function startOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const { db, bus, logger } = options;
  const idleMs = options.idleMs ?? 250;
  const batchSize = options.batchSize ?? 100;
  const retentionMs = options.retentionMs ?? 24 * 3600_000;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;
  let lastPrune = 0;

  const pass = async (): Promise<number> => {
    let total = 0;
    for (;;) {
      const { published, claimed, failure } = await db.transaction().execute(async (trx) => {
        const rows = await trx
          .selectFrom('outbox')
          .select(['id', 'subject', 'payload', 'headers'])
          .where('published_at', 'is', null)
          .orderBy(sql.ref('seq'))
          .limit(batchSize)
          .forUpdate()
          .skipLocked()
          .execute();
        // Sent back to back on one connection, the batch reaches the stream in
        // order and costs one round trip instead of one per event.
        const outcomes = await Promise.allSettled(
          rows.map((row) => bus.publish(row.subject, row.payload, { msgId: row.id, headers: row.headers })),
        );
        const done = rows.filter((_, i) => outcomes[i]?.status === 'fulfilled').map((r) => r.id);
        if (done.length > 0) {
          await trx
            .updateTable('outbox')
            .set({ published_at: sql<Date>`now()` })
            .where('id', 'in', done)
            .execute();
        }
        const rejected = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
        return { published: done.length, claimed: rows.length, failure: rejected?.reason as unknown };
      });
      total += published;
      // What failed stays pending; the relay backs off and tries it again.
      if (failure !== undefined) throw failure;
      if (claimed < batchSize) break;
    }
    if (Date.now() - lastPrune > 60_000) {
      lastPrune = Date.now();
      await db
        .deleteFrom('outbox')
        .where('published_at', '<', new Date(Date.now() - retentionMs))
        .execute();
    }
    return total;
  };

  const run = (): Promise<number> => {
    running ??= pass().finally(() => {
      running = undefined;
    });
    return running;
  };

  // A wake during a pass may come after the pass claimed its rows: it asks for one more pass.
  let again = false;
  // When the pending timer fires; a later schedule never postpones a sooner pass.
  let dueAt = Number.POSITIVE_INFINITY;
  const schedule = (ms: number) => {
    if (stopped) return;
    const at = Date.now() + ms;
    if (timer !== undefined && at >= dueAt) return;
    clearTimeout(timer);
    dueAt = at;
    timer = setTimeout(() => {
      timer = undefined;
      dueAt = Number.POSITIVE_INFINITY;
      again = false;
      run().then(
        () => schedule(again ? 0 : idleMs),
        (error: unknown) => {
          logger.warn({ err: error }, 'outbox relay pass failed; will retry');
          schedule(Math.min(idleMs * 8, 5_000));
        },
      );
    }, ms);
    timer.unref();
  };

  schedule(0);
  return {
    wake: () => {
      if (running === undefined) schedule(0);
      else again = true;
    },
    flush: async () => {
      await running?.catch(() => 0);
      const published = await run();
      if (again) schedule(0);
      return published;
    },
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running?.catch(() => 0);
    },
  };
}
