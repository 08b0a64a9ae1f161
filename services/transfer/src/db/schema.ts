/** Tables of the transfer service's schema, one type per table. */
import type { OutboxTable } from '#lib/db/outbox.js';

export interface TransferDatabase {
  outbox: OutboxTable;
}
