import type { Subscription } from '#lib/bus/bus.js';
import type { NotificationContext } from '../context.js';
import { followAppStatus } from './app-status.js';
import { followExpiringCredentials } from './credential-events.js';
import { followDestinationOffline } from './destination-offline.js';
import { tailNotices } from './fanout.js';
import { GroupCommit } from './group-commit.js';
import { observeOnlineApps } from './presence-gauge.js';
import { startNoticeSweep } from './sweep.js';
import { followTransferEvents } from './transfer-events.js';

/**
 * The notification service's background work: the live fan-out of notices to
 * this replica's streams, notices from transfer and credential events
 * (destination-offline.ts: DESTINATION_OFFLINE, Art. 5.9), the sweep of
 * expired notices, and webhook calls (webhook-dispatch.ts). The hub comes first when stopping: its
 * streams end (their clients move to another replica) before the server
 * closes.
 */
export async function startNotificationConsumers(ctx: NotificationContext): Promise<Subscription[]> {
  const fanout = await tailNotices(ctx);
  // One group commit for every event consumer: a burst of any mix makes few transactions.
  const notices = new GroupCommit(ctx);
  return [
    ctx.hub,
    fanout,
    await followAppStatus(ctx),
    ...(await followTransferEvents(ctx, notices.add)),
    await followExpiringCredentials(ctx, notices.add),
    await followDestinationOffline(ctx, notices.add),
    startNoticeSweep(ctx),
    ctx.webhooks.start(),
    observeOnlineApps(ctx),
  ];
}
