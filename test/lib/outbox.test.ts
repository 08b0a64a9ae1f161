/**
 * The transactional outbox against real Postgres and NATS JetStream: what a
 * transaction enqueues is published once it commits, in order, and never if
 * it rolls back; a publish that fails stays pending without holding back the
 * rest; two relays side by side publish every event exactly once.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bus, BusMessage } from '#lib/bus/bus.js';
import { connectNatsBus } from '#lib/bus/nats.js';
import { type DatabasePool, openDatabase } from '#lib/db/database.js';
import { createOutboxTableV1, enqueueEvent, type OutboxDatabase, startOutboxRelay } from '#lib/db/outbox.js';
import { silentLogger } from '#lib/logger.js';
import { deleteStreams, dropSchemas } from '../support/cleanup.js';
import { TEST_DATABASE_URL, TEST_NATS_URL, uniqueName } from '../support/env.js';

const prefix = uniqueName('OUTBOX').toUpperCase();
const stream = `${prefix}_EVENTS`;
const schemas: string[] = [];
let pool: DatabasePool;
let bus: Bus;

beforeAll(async () => {
  pool = await openDatabase({ kind: 'postgres', url: TEST_DATABASE_URL });
  bus = await connectNatsBus({ servers: TEST_NATS_URL, name: 'outbox-test' });
  await bus.ensureStream({ name: stream, subjects: [`${prefix}.events.>`] });
});

afterAll(async () => {
  await bus?.close();
  await pool?.close();
  await dropSchemas(schemas);
  await deleteStreams(prefix);
});

async function freshOutbox() {
  const schema = uniqueName('outbox');
  schemas.push(schema);
  const db = pool.forSchema<OutboxDatabase>(schema);
  await sql`create schema ${sql.id(schema)}`.execute(db);
  await createOutboxTableV1(db as never);
  return db;
}

/** Collects what a fresh durable of the stream receives on `subject`. */
async function follow(subject: string) {
  const seen: BusMessage[] = [];
  const sub = await bus.consume(
    { stream, durable: uniqueName('follow'), filterSubjects: [subject] },
    async (m) => {
      seen.push(m);
    },
  );
  return { seen, stop: () => sub.stop() };
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const pending = async (db: Awaited<ReturnType<typeof freshOutbox>>) =>
  db.selectFrom('outbox').select('subject').where('published_at', 'is', null).orderBy('seq').execute();

describe('outbox relay', () => {
  it('publishes what a committed transaction enqueued, in order, and nothing of one rolled back', async () => {
    const db = await freshOutbox();
    const subject = `${prefix}.events.order`;
    const follower = await follow(subject);
    const relay = startOutboxRelay({ db, bus, logger: silentLogger(), idleMs: 50, batchSize: 7 });
    try {
      await db.transaction().execute(async (trx) => {
        for (let i = 0; i < 40; i++)
          await enqueueEvent(trx, { subject, payload: Buffer.from(`e${i}`), headers: { n: String(i) } });
      });
      await expect(
        db.transaction().execute(async (trx) => {
          await enqueueEvent(trx, { subject, payload: Buffer.from('never') });
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
      relay.wake();
      await until(() => follower.seen.length >= 40);
      await relay.flush();
      expect(follower.seen.map((m) => Buffer.from(m.data).toString())).toEqual(
        Array.from({ length: 40 }, (_, i) => `e${i}`),
      );
      expect(follower.seen[3]!.headers['n']).toBe('3');
      expect(await pending(db)).toEqual([]);
    } finally {
      await relay.stop();
      await follower.stop();
    }
  });

  it('keeps an event no stream captures pending, and publishes the others around it', async () => {
    const db = await freshOutbox();
    const subject = `${prefix}.events.partial`;
    const follower = await follow(subject);
    const relay = startOutboxRelay({ db, bus, logger: silentLogger(), idleMs: 50 });
    try {
      await db.transaction().execute(async (trx) => {
        await enqueueEvent(trx, { subject, payload: Buffer.from('before') });
        await enqueueEvent(trx, { subject: `${prefix}_NOWHERE.x`, payload: Buffer.from('lost?') });
        await enqueueEvent(trx, { subject, payload: Buffer.from('after') });
      });
      relay.wake();
      await until(() => follower.seen.length >= 2);
      await expect(relay.flush()).rejects.toThrow(/no stream captures/);
      expect(follower.seen.map((m) => Buffer.from(m.data).toString())).toEqual(['before', 'after']);
      expect(await pending(db)).toEqual([{ subject: `${prefix}_NOWHERE.x` }]);
    } finally {
      await relay.stop();
      await follower.stop();
    }
  });

  it('publishes each event once when two relays share the table', async () => {
    const db = await freshOutbox();
    const subject = `${prefix}.events.shared`;
    const follower = await follow(subject);
    const relays = [1, 2].map(() =>
      startOutboxRelay({ db, bus, logger: silentLogger(), idleMs: 10, batchSize: 5 }),
    );
    try {
      const writers = Array.from({ length: 10 }, (_, w) =>
        db.transaction().execute(async (trx) => {
          for (let i = 0; i < 10; i++)
            await enqueueEvent(trx, { subject, payload: Buffer.from(`${w}.${i}`) });
        }),
      );
      await Promise.all(writers);
      for (const relay of relays) relay.wake();
      await until(() => follower.seen.length >= 100);
      await Promise.all(relays.map((r) => r.flush()));
      await new Promise((r) => setTimeout(r, 300));
      const bodies = follower.seen.map((m) => Buffer.from(m.data).toString());
      expect(bodies).toHaveLength(100);
      expect(new Set(bodies).size).toBe(100);
      expect(await pending(db)).toEqual([]);
    } finally {
      await Promise.all(relays.map((r) => r.stop()));
      await follower.stop();
    }
  });

  it('runs another pass at once when woken during a pass, instead of after the idle pause', async () => {
    const db = await freshOutbox();
    const subject = `${prefix}.events.wake`;
    const follower = await follow(subject);
    // A bus whose publishes wait for the test, so a pass is surely under way when the wake comes.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let publishing = false;
    const gated: Bus = {
      ...bus,
      kind: bus.kind,
      publish: async (...args: Parameters<Bus['publish']>) => {
        publishing = true;
        await gate;
        return bus.publish(...args);
      },
    };
    const relay = startOutboxRelay({ db, bus: gated, logger: silentLogger(), idleMs: 60_000 });
    try {
      await db.transaction().execute((trx) => enqueueEvent(trx, { subject, payload: Buffer.from('first') }));
      relay.wake();
      await until(() => publishing);
      // Committed after the pass claimed its rows: that pass cannot see it.
      await db.transaction().execute((trx) => enqueueEvent(trx, { subject, payload: Buffer.from('second') }));
      relay.wake();
      open();
      await until(() => follower.seen.length >= 2, 5_000);
      expect(follower.seen.map((m) => Buffer.from(m.data).toString())).toEqual(['first', 'second']);
    } finally {
      await relay.stop();
      await follower.stop();
    }
  });
});
