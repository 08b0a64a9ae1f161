import type { Subscription } from '#lib/bus/bus.js';
import type { RegistryContext } from '../context.js';

/** The bus consumers of the registry; it is a source of events and consumes none. */
export async function startRegistryConsumers(_ctx: RegistryContext): Promise<Subscription[]> {
  return [];
}
