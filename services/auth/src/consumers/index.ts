import type { Subscription } from '#lib/bus/bus.js';
import type { AuthContext } from '../context.js';
import { consumeAuditEvents, startAuditRetention } from './audit-log.js';
import { startExpirySweep } from './expiry.js';
import { followOwnerChanges } from './owner-changes.js';
import { listenForUsage } from './usage.js';

/**
 * What the auth service does in the background: last-used times, the expiry
 * sweep, owners retired by the registry, and the audit log (its writer and
 * its retention sweep).
 */
export async function startAuthConsumers(ctx: AuthContext): Promise<Subscription[]> {
  return [
    await listenForUsage(ctx),
    startExpirySweep(ctx),
    await followOwnerChanges(ctx),
    await consumeAuditEvents(ctx),
    startAuditRetention(ctx),
  ];
}
