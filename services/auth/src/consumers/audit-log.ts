/**
 * The audit log's writer (Art. 14.5): a durable consumer of every audit event
 * (`<prefix>.audit.>`, stream `<prefix>_AUDIT`) shared by the auth replicas,
 * and the retention sweep.
 *
 * Messages are handled many at once, and the events in hand are appended in
 * one transaction (group commit): while one batch is being written, the next
 * gathers. A message is acked only once its batch has committed, so a crash
 * loses nothing (the stream delivers it again, and the event id makes the
 * append idempotent).
 */
import { fromBinary } from '@bufbuild/protobuf';
import { AuditEventSchema } from '#gen/lgsp/common/v1/audit_pb.js';
import { auditStream } from '#lib/audit.js';
import type { BusMessage, Subscription } from '#lib/bus/bus.js';
import { startPeriodic } from '#lib/periodic.js';
import { DEFAULT_AUDIT_RETENTION_DAYS } from '../config.js';
import type { AuthContext } from '../context.js';
import { appendAuditEvents, pruneAuditLog } from '../db/audit-log.js';
import { type AuditEventFields, fieldsOf } from '../domain/audit-chain.js';

export const AUDIT_LOG_DURABLE = 'auth-audit-log';
/** Messages in hand at once on each replica, hence the largest batch. */
const IN_FLIGHT = 512;
const RETENTION_INTERVAL_MS = 3600_000;
const DAY_MS = 24 * 3600_000;

interface Waiting {
  readonly fields: AuditEventFields;
  readonly done: (error?: unknown) => void;
}

/** Gathers events while a batch is being written, then writes them as the next batch. */
export class GroupAppender {
  #queue: Waiting[] = [];
  #writing = false;

  constructor(private readonly write: (batch: AuditEventFields[]) => Promise<unknown>) {}

  append(fields: AuditEventFields): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ fields, done: (error) => (error === undefined ? resolve() : reject(error)) });
      // Let the rest of a fetched batch arrive before the first write starts.
      if (!this.#writing) {
        this.#writing = true;
        setImmediate(() => void this.#drain());
      }
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#queue.length);
      try {
        await this.write(batch.map((w) => w.fields));
        for (const w of batch) w.done();
      } catch (error) {
        for (const w of batch) w.done(error ?? new Error('audit append failed'));
      }
    }
    this.#writing = false;
  }
}

export async function consumeAuditEvents(ctx: AuthContext): Promise<Subscription> {
  const stream = auditStream(ctx.config.busPrefix);
  await ctx.bus.ensureStream(stream);
  const appender = new GroupAppender(async (batch) => {
    const appended = await appendAuditEvents(ctx.db, batch);
    ctx.logger.debug({ events: batch.length, appended }, 'audit events appended');
  });
  return ctx.bus.consume(
    {
      stream: stream.name,
      durable: AUDIT_LOG_DURABLE,
      deliverFrom: 'all',
      // Never give an event up: while Postgres is away, it waits in the stream.
      maxDeliver: 100_000,
    },
    async (msg: BusMessage) => {
      let fields: AuditEventFields;
      try {
        fields = fieldsOf(fromBinary(AuditEventSchema, msg.data), `${stream.name}:${msg.seq}`);
      } catch (err) {
        ctx.logger.error({ err, subject: msg.subject, seq: msg.seq }, 'undecodable audit event skipped');
        return;
      }
      await appender.append(fields);
    },
    { concurrency: IN_FLIGHT },
  );
}

/** Removes entries older than the retention period, every hour, keeping the chain verifiable. */
export function startAuditRetention(ctx: AuthContext, intervalMs = RETENTION_INTERVAL_MS): Subscription {
  const days = ctx.config.auditRetentionDays ?? DEFAULT_AUDIT_RETENTION_DAYS;
  if (days <= 0) return { stop: async () => {} };
  return startPeriodic({
    name: 'audit log retention',
    intervalMs,
    firstDelayMs: 60_000,
    logger: ctx.logger,
    pass: async () => {
      const result = await pruneAuditLog(ctx.db, new Date(Date.now() - days * DAY_MS));
      if (result.pruned > 0)
        ctx.logger.info(
          { pruned: result.pruned, anchor: result.anchorSeq },
          'audit entries past retention removed',
        );
      return result.pruned > 0;
    },
  });
}
