import type { Kysely } from 'kysely';
import type { BaseContext } from '#lib/service.js';
import type { RegistryConfig } from './config.js';
import type { RegistryDatabase } from './db/schema.js';

/** Everything the registry's handlers depend on, built once at start. */
export interface RegistryContext extends Omit<BaseContext<RegistryConfig>, 'db'> {
  readonly db: Kysely<RegistryDatabase>;
}

export function createRegistryContext(base: BaseContext<RegistryConfig>): RegistryContext {
  return { ...base, db: base.db as unknown as Kysely<RegistryDatabase> };
}
