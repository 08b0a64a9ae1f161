/**
 * The notice sweep, on every replica side by side: notices past their expire
 * time are deleted, acknowledged or not, a batch at a time; so are webhook
 * attempts and finished deliveries older than the notice lifetime.
 */
import type { Subscription } from '#lib/bus/bus.js';
import { startPeriodic } from '#lib/periodic.js';
import type { NotificationContext } from '../context.js';
import { deleteExpired } from '../db/notices.js';
import { deleteOldWebhookRecords } from '../db/webhooks.js';

const BATCH = 1_000;

/** Deletes one batch of expired notices; returns how many. */
export function sweepNotices(ctx: NotificationContext, now: Date = new Date()): Promise<number> {
  return deleteExpired(ctx.db, now, BATCH);
}

/** Deletes one batch of webhook records older than a notice may live; returns how many. */
export function sweepWebhookRecords(ctx: NotificationContext, now: Date = new Date()): Promise<number> {
  return deleteOldWebhookRecords(ctx.db, new Date(now.getTime() - ctx.config.noticeTtlSeconds * 1000), BATCH);
}

export function startNoticeSweep(ctx: NotificationContext): Subscription {
  return startPeriodic({
    name: 'notice sweep',
    intervalMs: ctx.config.noticeSweepIntervalSeconds * 1000,
    firstDelayMs: 1_000,
    logger: ctx.logger,
    pass: async () => {
      const deleted = await sweepNotices(ctx);
      if (deleted > 0) ctx.logger.info({ deleted }, 'expired notices deleted');
      const records = await sweepWebhookRecords(ctx);
      if (records > 0) ctx.logger.info({ deleted: records }, 'old webhook attempts and deliveries deleted');
      // A full batch means more may be waiting: run again at once.
      return deleted === BATCH || records >= BATCH;
    },
  });
}
