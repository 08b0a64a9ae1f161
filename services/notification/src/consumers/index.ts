import type { Subscription } from '#lib/bus/bus.js';
import type { NotificationContext } from '../context.js';

/** The bus consumers of the notification service; it consumes no events yet. */
export async function startNotificationConsumers(_ctx: NotificationContext): Promise<Subscription[]> {
  return [];
}
