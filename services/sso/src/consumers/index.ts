import type { Subscription } from '#lib/bus/bus.js';
import type { SsoContext } from '../context.js';

/** The bus consumers of the sso service; it consumes no events yet. */
export async function startSsoConsumers(_ctx: SsoContext): Promise<Subscription[]> {
  return [];
}
