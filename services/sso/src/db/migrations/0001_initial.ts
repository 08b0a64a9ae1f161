/** Frozen: the sso service's first schema. Change the schema in a new migration. */
import type { Kysely } from 'kysely';
import { createOutboxTableV1 } from '#lib/db/outbox.js';

export async function up(db: Kysely<unknown>): Promise<void> {
  await createOutboxTableV1(db);
}
