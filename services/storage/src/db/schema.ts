/** Tables of the storage service's schema, one type per table. */
import type { OutboxTable } from '#lib/db/outbox.js';

export interface StorageDatabase {
  outbox: OutboxTable;
}
