import type { Kysely } from 'kysely';
import type { BaseContext } from '#lib/service.js';
import type { SsoConfig } from './config.js';
import type { SsoDatabase } from './db/schema.js';

/** Everything the sso service's handlers depend on, built once at start. */
export interface SsoContext extends Omit<BaseContext<SsoConfig>, 'db'> {
  readonly db: Kysely<SsoDatabase>;
}

export function createSsoContext(base: BaseContext<SsoConfig>): SsoContext {
  return { ...base, db: base.db as unknown as Kysely<SsoDatabase> };
}
