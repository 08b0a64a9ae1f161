/** Tables of the sso service's schema, one type per table. */
import type { OutboxTable } from '#lib/db/outbox.js';

export interface SsoDatabase {
  outbox: OutboxTable;
}
