import type { Subscription } from '#lib/bus/bus.js';
import type { AuthContext } from '../context.js';

/** The bus consumers of the auth service; it consumes no events yet. */
export async function startAuthConsumers(_ctx: AuthContext): Promise<Subscription[]> {
  return [];
}
