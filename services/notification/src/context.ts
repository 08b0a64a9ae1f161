import type { Kysely } from 'kysely';
import type { BaseContext } from '#lib/service.js';
import type { NotificationConfig } from './config.js';
import type { NotificationDatabase } from './db/schema.js';

/** Everything the notification service's handlers depend on, built once at start. */
export interface NotificationContext extends Omit<BaseContext<NotificationConfig>, 'db'> {
  readonly db: Kysely<NotificationDatabase>;
}

export function createNotificationContext(base: BaseContext<NotificationConfig>): NotificationContext {
  return { ...base, db: base.db as unknown as Kysely<NotificationDatabase> };
}
