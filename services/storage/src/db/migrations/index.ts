import type { Migrations } from '#lib/db/migrate.js';
import * as m0001 from './0001_initial.js';
import * as m0002 from './0002_blobs.js';

/** Every migration of the storage schema, in order. */
export const migrations: Migrations = {
  '0001_initial': m0001,
  '0002_blobs': m0002,
};
