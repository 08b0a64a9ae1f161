import type { Subscription } from '#lib/bus/bus.js';
import type { StorageContext } from '../context.js';

/** The bus consumers of the storage service; it consumes no events yet. */
export async function startStorageConsumers(_ctx: StorageContext): Promise<Subscription[]> {
  return [];
}
