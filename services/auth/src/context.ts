import type { Kysely } from 'kysely';
import type { BaseContext } from '#lib/service.js';
import type { AuthConfig } from './config.js';
import type { AuthDatabase } from './db/schema.js';

/** Everything the auth service's handlers depend on, built once at start. */
export interface AuthContext extends Omit<BaseContext<AuthConfig>, 'db'> {
  readonly db: Kysely<AuthDatabase>;
}

export function createAuthContext(base: BaseContext<AuthConfig>): AuthContext {
  return { ...base, db: base.db as unknown as Kysely<AuthDatabase> };
}
