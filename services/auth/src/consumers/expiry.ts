/**
 * The expiry sweep: credentials past their expire_time become EXPIRED (an
 * event, and a broadcast so that every cache drops them), and owners of
 * credentials expiring within 14 days are warned once (EXPIRING event, for
 * the notification service). Replicas sweep side by side: rows are claimed
 * with SKIP LOCKED. An expired credential is refused from the moment it
 * expires whether or not the sweep has run: its status is derived at read time.
 */
import { CredentialEventKind } from '#gen/lgsp/auth/v1/resources_pb.js';
import type { Subscription } from '#lib/bus/bus.js';
import { startPeriodic } from '#lib/periodic.js';
import type { AuthContext } from '../context.js';
import { claimExpired, claimExpiring, updateCredential } from '../db/credentials.js';
import { emitCredentialEvent } from '../db/events.js';

export const SWEEP_INTERVAL_MS = 30_000;
export const EXPIRY_WARNING_MS = 14 * 24 * 3600_000;
const BATCH = 100;

export interface SweepResult {
  readonly expired: string[];
  readonly warned: string[];
}

export async function sweepCredentials(ctx: AuthContext, now: Date = new Date()): Promise<SweepResult> {
  const prefix = ctx.config.busPrefix;
  const result: SweepResult = { expired: [], warned: [] };
  for (;;) {
    const batch = await ctx.db.transaction().execute(async (trx) => {
      const expired = await claimExpired(trx, now, BATCH);
      for (const row of expired) {
        const updated = await updateCredential(trx, row.access_key_id, { status: 'expired' });
        await emitCredentialEvent(trx, prefix, CredentialEventKind.EXPIRED, updated, { at: now });
      }
      const expiring = await claimExpiring(trx, now, new Date(now.getTime() + EXPIRY_WARNING_MS), BATCH);
      for (const row of expiring) {
        const updated = await updateCredential(trx, row.access_key_id, { expiry_warned_at: now });
        await emitCredentialEvent(trx, prefix, CredentialEventKind.EXPIRING, updated, { at: now });
      }
      return { expired: expired.map((r) => r.access_key_id), warned: expiring.map((r) => r.access_key_id) };
    });
    result.expired.push(...batch.expired);
    result.warned.push(...batch.warned);
    if (batch.expired.length > 0) await ctx.announceStale(batch.expired);
    if (batch.expired.length < BATCH && batch.warned.length < BATCH) break;
  }
  if (result.expired.length + result.warned.length > 0) ctx.outbox.wake();
  return result;
}

export function startExpirySweep(ctx: AuthContext, intervalMs = SWEEP_INTERVAL_MS): Subscription {
  return startPeriodic({
    name: 'credential expiry sweep',
    intervalMs,
    firstDelayMs: 1_000,
    logger: ctx.logger,
    pass: async () => {
      const r = await sweepCredentials(ctx);
      if (r.expired.length > 0) ctx.logger.info({ expired: r.expired }, 'credentials expired');
    },
  });
}
