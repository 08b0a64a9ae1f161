import type { Kysely } from 'kysely';
import type { BaseContext } from '#lib/service.js';
import type { TransferConfig } from './config.js';
import type { TransferDatabase } from './db/schema.js';

/** Everything the transfer service's handlers depend on, built once at start. */
export interface TransferContext extends Omit<BaseContext<TransferConfig>, 'db'> {
  readonly db: Kysely<TransferDatabase>;
}

export function createTransferContext(base: BaseContext<TransferConfig>): TransferContext {
  return { ...base, db: base.db as unknown as Kysely<TransferDatabase> };
}
