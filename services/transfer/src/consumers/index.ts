import type { Subscription } from '#lib/bus/bus.js';
import type { TransferContext } from '../context.js';
import { followUploads } from './uploads.js';
import { startWorker } from './worker.js';

/** The transfer service's background work: offers, expiry and purge; uploads under way. */
export async function startTransferConsumers(ctx: TransferContext): Promise<Subscription[]> {
  return [startWorker(ctx), await followUploads(ctx)];
}
