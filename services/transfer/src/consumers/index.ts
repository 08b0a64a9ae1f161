import type { Subscription } from '#lib/bus/bus.js';
import type { TransferContext } from '../context.js';

/** The bus consumers of the transfer service; it consumes no events yet. */
export async function startTransferConsumers(_ctx: TransferContext): Promise<Subscription[]> {
  return [];
}
