import type { Subscription } from '#lib/bus/bus.js';
import type { StorageContext } from '../context.js';
import { startSweep } from './sweep.js';

/** What the storage service does in the background: the sweep of expired and purged content. */
export async function startStorageConsumers(ctx: StorageContext): Promise<Subscription[]> {
  return [startSweep(ctx)];
}
