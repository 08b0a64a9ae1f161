/** Tables of the notification service's schema, one type per table. */
import type { OutboxTable } from '#lib/db/outbox.js';

export interface NotificationDatabase {
  outbox: OutboxTable;
}
