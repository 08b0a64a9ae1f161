import type { Subscription } from '#lib/bus/bus.js';
import type { TransferContext } from '../context.js';
import { observeBacklog } from './backlog-gauge.js';
import { followDestinationPresence } from './destination-presence.js';
import { startStatistics } from './statistics.js';
import { followUploads } from './uploads.js';
import { startWorker } from './worker.js';

/**
 * The transfer service's background work: offers, expiry, purge and offline
 * warnings; uploads under way; the presence of destinations; the backlog gauge;
 * the statistics (Art. 5.12).
 */
export async function startTransferConsumers(ctx: TransferContext): Promise<Subscription[]> {
  return [
    startWorker(ctx),
    await followUploads(ctx),
    await followDestinationPresence(ctx),
    observeBacklog(ctx),
    ...(await startStatistics(ctx)),
  ];
}
