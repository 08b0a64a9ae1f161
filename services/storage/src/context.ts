import type { Kysely } from 'kysely';
import type { BaseContext } from '#lib/service.js';
import type { StorageConfig } from './config.js';
import type { StorageDatabase } from './db/schema.js';

/** Everything the storage service's handlers depend on, built once at start. */
export interface StorageContext extends Omit<BaseContext<StorageConfig>, 'db'> {
  readonly db: Kysely<StorageDatabase>;
}

export function createStorageContext(base: BaseContext<StorageConfig>): StorageContext {
  return { ...base, db: base.db as unknown as Kysely<StorageDatabase> };
}
