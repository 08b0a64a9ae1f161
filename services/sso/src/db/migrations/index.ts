import type { Migrations } from '#lib/db/migrate.js';
import * as m0001 from './0001_initial.js';
import * as m0002 from './0002_sso.js';

/** Every migration of the sso schema, in order. */
export const migrations: Migrations = {
  '0001_initial': m0001,
  '0002_sso': m0002,
};
