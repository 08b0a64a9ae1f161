/** Tables of the auth service's schema, one type per table. */
import type { OutboxTable } from '#lib/db/outbox.js';

export interface AuthDatabase {
  outbox: OutboxTable;
}
